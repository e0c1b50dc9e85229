"""``POST /v1/generate``: prompts in, continuations out (or one streamed as server-sent
events); every request's rows decode in one left-padded batch (serve/generation.py).
The OpenAI-compatible endpoints (serve/openai_api.py) feed the same batches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pydantic import Field

from nlpkit.errors import UsageError
from nlpkit.serve.batcher import Job
from nlpkit.serve.events import event_stream
from nlpkit.serve.generation import Completion
from nlpkit.serve.limits import Limits, check_new_tokens, check_texts
from nlpkit.serve.schemas import Strict


class GenerateRequest(Strict):
    prompts: list[str]
    max_new_tokens: int = 50
    temperature: float | None = Field(None, gt=0, description="Any sampling option samples.")
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=1)
    chat: bool | None = Field(None, description="None: the chat template when there is one.")
    system: str | None = None
    stream: bool = Field(False, description="Server-sent events, one prompt only.")


def routes(engine: Any, limits: Limits, command: str):
    from fastapi import APIRouter

    router = APIRouter()

    @router.post(f"/v1/{command}", response_model=None)
    async def generate(body: GenerateRequest):
        return await _generate(engine, limits, body, command)

    return router


async def _generate(engine: Any, limits: Limits, body: GenerateRequest, command: str):
    from nlpkit.tasks.generate import sampling_options

    engine.require(command)
    texts = check_texts(body.prompts, limits, "prompts")
    check_new_tokens(body.max_new_tokens, limits, "max_new_tokens")
    if body.stream and len(texts) != 1:
        raise UsageError(f"stream works with one prompt at a time, got {len(texts)}")
    prompts = engine.prompts(texts, body.max_new_tokens, body.chat, body.system)
    sampling = sampling_options(False, body.temperature, body.top_p, body.top_k, None)
    if body.stream:
        return event_stream(_events(engine.stream(prompts[0], sampling)))
    done = await asyncio.gather(*(engine.complete(prompt, sampling) for prompt in prompts))
    rows = [
        {"text": c.text, "new_tokens": c.new_tokens, "finish_reason": c.finish_reason} for c in done
    ]
    return {"model": engine.models[command], "results": rows}


async def _events(pieces: AsyncIterator[str | Completion]) -> AsyncIterator[dict]:
    async for piece in pieces:
        if isinstance(piece, Completion):
            yield {
                "done": True,
                "new_tokens": piece.new_tokens,
                "finish_reason": piece.finish_reason,
            }
        else:
            yield {"text": piece}


def jobs(engine: Any, command: str, batch: Sequence[Job]) -> list[Completion]:
    from nlpkit.devices import use_threads
    from nlpkit.models.load import quiet_libraries
    from nlpkit.serve.generation import generate_batch

    loaded = engine.causal()
    use_threads(engine.settings.threads)
    with quiet_libraries():
        return generate_batch(loaded, batch, dict(batch[0].key[0]))
