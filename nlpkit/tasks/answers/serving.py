"""``POST /v1/answer``: questions with their contexts in, spans with character offsets
out; the questions of every waiting request with the same settings run as one batch."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from nlpkit.errors import InputError
from nlpkit.serve.batcher import Job
from nlpkit.serve.engine import split_jobs
from nlpkit.serve.limits import LimitError, Limits, check_texts
from nlpkit.serve.schemas import Strict


class QuestionItem(BaseModel):
    question: str = Field(description="The question.")
    context: str | None = Field(None, description="Its own context (else the request's).")


class AnswerRequest(Strict):
    questions: list[str | QuestionItem] = Field(
        description="Questions: texts about `context`, or {question, context} objects."
    )
    context: str | None = Field(None, description="The context the questions share.")
    top_k: int = Field(1, ge=1, le=20, description="Spans per question, best first.")
    max_length: int = Field(384, ge=8, description="Tokens per window of a long context.")
    stride: int = Field(128, ge=1, description="Tokens consecutive windows share.")
    max_answer_length: int = Field(30, ge=1, description="Longest answer, in tokens.")
    allow_no_answer: bool = Field(False, description="SQuAD 2: answer '' when no span wins.")
    null_score_diff_threshold: float = Field(0.0, description="How far no-answer must win.")


def pairs_of(body: AnswerRequest, limits: Limits) -> list[tuple[str, str]]:
    """(question, context) per question, within the server's limits (4xx otherwise)."""
    items = [q if isinstance(q, QuestionItem) else QuestionItem(question=q) for q in body.questions]
    questions = check_texts([item.question for item in items], limits, "questions")
    contexts = [item.context if item.context is not None else body.context for item in items]
    for index, context in enumerate(contexts):
        if context is None or not context.strip():
            raise InputError(
                f"questions[{index}] has no context; send `context`, or one per question",
                param="context",
            )
        if len(context) > limits.max_chars:
            raise LimitError(
                f"the context of questions[{index}] has {len(context)} characters; this "
                f"server's limit is {limits.max_chars}",
                param="context",
            )
    return list(zip(questions, contexts, strict=True))


def routes(engine: Any, limits: Limits, command: str):
    from fastapi import APIRouter

    router = APIRouter()

    @router.post(f"/v1/{command}")
    async def answer(body: AnswerRequest) -> dict:
        pairs = pairs_of(body, limits)
        settings = body.model_dump(exclude={"questions", "context"})
        key = tuple(settings.values())
        results = await engine.submit(command, pairs, key, len(pairs))
        rows = [dataclasses.asdict(r) for r in results]
        return {"model": engine.models[command], "results": rows}

    return router


def jobs(engine: Any, command: str, batch: Sequence[Job]) -> list[list]:
    from nlpkit.tasks.answers import answer

    names = list(AnswerRequest.model_fields)[2:]

    def run(pairs: list) -> list:
        settings = dict(zip(names, batch[0].key, strict=True))
        model = engine.models[command]
        return answer(pairs, model=model, **settings, **engine.run_options())

    return split_jobs(batch, run)
