"""OpenAI-compatible /v1/chat/completions and /v1/completions over the generate task's
model, so OpenAI's own clients (``base_url=http://127.0.0.1:8000/v1``) work unchanged.

Differences, all documented in docs/serve.md: no ``temperature`` means greedy (nlpkit's
default; OpenAI samples at 1.0), ``temperature=0`` is greedy too, ``n`` is 1, ``stop``
takes up to 4 strings, ``seed`` makes a sampled reply repeatable (it runs in a batch of
its own), ``logprobs`` is refused with a 400, and ``model`` may name anything: the
served model answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter

from nlpkit.errors import UsageError
from nlpkit.serve.engine import Engine
from nlpkit.serve.events import event_stream
from nlpkit.serve.generation import Completion, Prompt
from nlpkit.serve.limits import Limits, check_new_tokens, check_texts
from nlpkit.serve.schemas import ChatRequest, CompletionRequest, OpenAIOptions

DEFAULT_MAX_TOKENS = 128
MAX_STOPS = 4  # as OpenAI's API


def openai_router(engine: Engine, limits: Limits) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatRequest):
        new_tokens = _new_tokens(body, limits, body.max_completion_tokens)
        messages = [message.plain() for message in body.messages]
        check_texts([m["content"] for m in messages], limits, "messages", empty_ok=True)
        prompt = _with_options(engine.conversation(messages, new_tokens), body)
        reply = _Reply(engine, "chat.completion", body)
        if body.stream:
            return event_stream(reply.chat_chunks(engine.stream(prompt, _sampling(body))))
        done = await engine.complete(prompt, _sampling(body))
        message = {"role": "assistant", "content": done.text}
        return reply.whole([{"index": 0, "message": message, **_finish(done)}], [done])

    @router.post("/v1/completions", response_model=None)
    async def completions(body: CompletionRequest):
        new_tokens = _new_tokens(body, limits)
        given = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        texts = check_texts(given, limits, "prompt", empty_ok=True)
        if body.stream and len(texts) != 1:
            raise UsageError("stream works with one prompt at a time", param="prompt")
        prompts = [_with_options(p, body) for p in engine.prompts(texts, new_tokens, chat=False)]
        reply = _Reply(engine, "text_completion", body)
        if body.stream:
            return event_stream(reply.text_chunks(engine.stream(prompts[0], _sampling(body))))
        done = await asyncio.gather(*(engine.complete(p, _sampling(body)) for p in prompts))
        choices = [
            {"index": i, "text": c.text, "logprobs": None, **_finish(c)} for i, c in enumerate(done)
        ]
        return reply.whole(choices, done)

    return router


def _new_tokens(body: OpenAIOptions, limits: Limits, newer: int | None = None) -> int:
    if body.n != 1:
        raise UsageError(f"n={body.n}: this server returns one choice per prompt", param="n")
    if body.logprobs or body.top_logprobs:
        raise UsageError(
            "logprobs and top_logprobs are not supported by this server; leave them unset",
            param="logprobs",
        )
    _stops(body)  # checked before the prompt is built
    field = "max_completion_tokens" if newer is not None else "max_tokens"
    asked = newer if newer is not None else body.max_tokens
    check_new_tokens(asked, limits, field)
    return asked or min(DEFAULT_MAX_TOKENS, limits.max_new_tokens)


def _stops(body: OpenAIOptions) -> tuple[str, ...]:
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stops) > MAX_STOPS or "" in stops:
        raise UsageError(
            f"stop takes up to {MAX_STOPS} non-empty strings, got {stops!r}", param="stop"
        )
    return tuple(stops)


def _with_options(prompt: Prompt, body: OpenAIOptions) -> Prompt:
    """The prompt with the request's stop strings and seed."""
    return dataclasses.replace(prompt, stop=_stops(body), seed=body.seed)


def _sampling(body: OpenAIOptions) -> dict:
    from nlpkit.tasks.generate import sampling_options

    temperature = body.temperature or None  # 0 is greedy, as in OpenAI's API
    top_p = body.top_p if body.top_p not in (None, 1) else None
    return sampling_options(False, temperature, top_p, None, None)


def _finish(done: Completion) -> dict:
    return {"finish_reason": "length" if done.finish_reason == "length" else "stop"}


class _Reply:
    """One response's id, time and model, and its shapes: whole or as chunks."""

    def __init__(self, engine: Engine, kind: str, body: OpenAIOptions) -> None:
        prefix = "chatcmpl" if kind == "chat.completion" else "cmpl"
        self.engine, self.kind, self.body = engine, kind, body
        self.head = {
            "id": f"{prefix}-{uuid.uuid4().hex[:24]}",
            "object": kind,
            "created": int(time.time()),
            "model": engine.models[engine.chat_task],
        }

    def whole(self, choices: list[dict], done: list[Completion]) -> dict:
        return {**self.head, "choices": choices, "usage": _usage(done)}

    def _chunk(self, choices: list[dict], kind: str) -> dict:
        return {**self.head, "object": kind, "choices": choices}

    async def chat_chunks(self, pieces: AsyncIterator[str | Completion]) -> AsyncIterator[dict]:
        kind = "chat.completion.chunk"
        first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        yield self._chunk([first], kind)
        async for piece in pieces:
            if isinstance(piece, Completion):
                yield self._chunk([{"index": 0, "delta": {}, **_finish(piece)}], kind)
                if self._wants_usage():
                    yield {**self._chunk([], kind), "usage": _usage([piece])}
            else:
                delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                yield self._chunk([delta], kind)

    async def text_chunks(self, pieces: AsyncIterator[str | Completion]) -> AsyncIterator[dict]:
        async for piece in pieces:
            if isinstance(piece, Completion):
                end = {"index": 0, "text": "", "logprobs": None, **_finish(piece)}
                yield self._chunk([end], self.kind)
                if self._wants_usage():
                    yield {**self._chunk([], self.kind), "usage": _usage([piece])}
            else:
                text = {"index": 0, "text": piece, "logprobs": None, "finish_reason": None}
                yield self._chunk([text], self.kind)

    def _wants_usage(self) -> bool:
        return bool(self.body.stream_options and self.body.stream_options.include_usage)


def _usage(done: list[Completion]) -> dict:
    prompt = sum(c.prompt_tokens for c in done)
    completion = sum(c.new_tokens for c in done)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
