"""``POST /v1/entities``: texts in, entities with character offsets out; the texts of
every waiting request with the same aggregation run as one batch."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from nlpkit.serve.batcher import Job
from nlpkit.serve.engine import split_jobs
from nlpkit.serve.limits import Limits, check_texts
from nlpkit.serve.schemas import Strict


class EntitiesRequest(Strict):
    texts: list[str] = Field(description="Texts to find named entities in.")
    aggregation: Literal["simple", "first", "average", "max", "none"] = Field(
        "simple", description="How tokens group into entities, as the pipeline names it."
    )


def routes(engine: Any, limits: Limits, command: str):
    from fastapi import APIRouter

    router = APIRouter()

    @router.post(f"/v1/{command}")
    async def entities(body: EntitiesRequest) -> dict:
        texts = check_texts(body.texts, limits)
        results = await engine.submit(command, texts, body.aggregation, len(texts))
        rows = [{"entities": [dataclasses.asdict(e) for e in r.entities]} for r in results]
        return {"model": engine.models[command], "results": rows}

    return router


def jobs(engine: Any, command: str, batch: Sequence[Job]) -> list[list]:
    from nlpkit.tasks.entities import entities

    def run(texts: list[str]) -> list:
        model, aggregation = engine.models[command], batch[0].key
        return entities(texts, model=model, aggregation=aggregation, **engine.run_options())

    return split_jobs(batch, run)
