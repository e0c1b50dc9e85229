"""``POST /v1/summarize``: documents in, summaries out, batched across requests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from nlpkit.serve.batcher import Job
from nlpkit.serve.engine import split_jobs
from nlpkit.serve.limits import Limits, check_new_tokens, check_texts
from nlpkit.serve.schemas import Strict


class SummarizeRequest(Strict):
    texts: list[str]
    max_new_tokens: int | None = Field(None, description="Unset: the model's own setting.")


def routes(engine: Any, limits: Limits, command: str):
    from fastapi import APIRouter

    router = APIRouter()

    @router.post(f"/v1/{command}")
    async def summarize(body: SummarizeRequest) -> dict:
        check_new_tokens(body.max_new_tokens, limits, "max_new_tokens")
        texts = check_texts(body.texts, limits)
        results = await engine.submit(command, texts, body.max_new_tokens, len(texts))
        return {
            "model": engine.models[command],
            "results": [{"summary": r.summary} for r in results],
        }

    return router


def jobs(engine: Any, command: str, batch: Sequence[Job]) -> list[list]:
    from nlpkit.tasks.summarize import summarize

    def run(texts: list[str]) -> list:
        model, new_tokens = engine.models[command], batch[0].key
        return summarize(texts, model=model, max_new_tokens=new_tokens, **engine.run_options())

    return split_jobs(batch, run)
