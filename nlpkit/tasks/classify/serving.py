"""``POST /v1/classify``: texts in, labels out, every request's texts in one batch."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from nlpkit.serve.batcher import Job
from nlpkit.serve.limits import Limits, check_texts
from nlpkit.serve.schemas import Strict

# On a CPU a classifier's work grows with every token, padding included: a gathered batch
# runs as length-sorted forward passes of 8 texts (32 SST-2 dev sentences, one thread:
# passes of 8 classified 89-93 texts/s, one pass of 32 60-65/s).
CPU_CLASSIFY_BATCH = 8


class ClassifyRequest(Strict):
    texts: list[str] = Field(description="Texts to label.")
    top_k: int = Field(1, ge=1, description="Labels to return per text, best first.")


def routes(engine: Any, limits: Limits, command: str):
    from fastapi import APIRouter

    router = APIRouter()

    @router.post(f"/v1/{command}")
    async def classify(body: ClassifyRequest) -> dict:
        texts = check_texts(body.texts, limits)
        results = await engine.submit(command, (texts, body.top_k), size=len(texts))
        rows = [
            {"label": r.label, "score": r.score, "top": [vars(t) for t in r.top]} for r in results
        ]
        return {"model": engine.models[command], "results": rows}

    return router


def jobs(engine: Any, command: str, batch: Sequence[Job]) -> list[list]:
    """Every job's texts in one call of the task; each job gets its own top_k back."""
    from nlpkit.models.load import load_model
    from nlpkit.tasks.classify import TASK, classify

    texts = [text for job in batch for text in job.payload[0]]
    most = max(job.payload[1] for job in batch)
    options = engine.run_options()
    model = engine.models[command]
    if load_model(TASK.loader, model, engine.settings.device).device.type == "cpu":
        options["batch_size"] = CPU_CLASSIFY_BATCH
    results = classify(texts, model=model, top_k=most, **options)
    out, start = [], 0
    for job in batch:
        texts, top_k = job.payload
        rows = results[start : start + len(texts)]
        out.append([dataclasses.replace(row, top=row.top[:top_k]) for row in rows])
        start += len(texts)
    return out
