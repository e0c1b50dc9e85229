"""``POST /v1/translate``: texts in, translations out, batched per language pair."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from nlpkit.serve.batcher import Job
from nlpkit.serve.engine import split_jobs
from nlpkit.serve.limits import Limits, check_new_tokens, check_texts
from nlpkit.serve.schemas import Strict


class TranslateRequest(Strict):
    texts: list[str]
    src: str = Field("en", description="Source language (ISO 639-1).")
    tgt: str = Field("de", description="Target language (ISO 639-1).")
    max_new_tokens: int | None = None


def routes(engine: Any, limits: Limits, command: str):
    from fastapi import APIRouter

    router = APIRouter()

    @router.post(f"/v1/{command}")
    async def translate(body: TranslateRequest) -> dict:
        check_new_tokens(body.max_new_tokens, limits, "max_new_tokens")
        texts = check_texts(body.texts, limits)
        key = (body.src, body.tgt, body.max_new_tokens)
        results = await engine.submit(command, texts, key, len(texts))
        rows = [{"translation": r.translation} for r in results]
        return {"model": engine.models[command], "results": rows}

    return router


def jobs(engine: Any, command: str, batch: Sequence[Job]) -> list[list]:
    from nlpkit.tasks.translate import translate

    src, tgt, max_new_tokens = batch[0].key

    def run(texts: list[str]) -> list:
        model = engine.models[command]
        options = engine.run_options()
        return translate(texts, src, tgt, model=model, max_new_tokens=max_new_tokens, **options)

    return split_jobs(batch, run)
