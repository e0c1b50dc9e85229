"""`nlpkit answer`: parse, call answer, render."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from nlpkit.cli import options as opt
from nlpkit.cli.option_groups import TaskOptions, with_task_options
from nlpkit.errors import InputError
from nlpkit.inputs.readers import text_arguments
from nlpkit.inputs.stream import TextSource
from nlpkit.models.resolve import DEFAULT_MODELS

ANSWER_DEFAULT_HELP = f"{DEFAULT_MODELS['answer']} (English, SQuAD v1.1)"
QUESTION_COLUMN = "question"
CONTEXT_COLUMN = "context"
Option = typer.Option


@dataclass
class QuestionSource(TextSource):
    """An input file's questions, each with its own context column: ``records()`` gives
    ``(question, context)`` pairs, which ``answer`` takes as they are."""

    context_column: str = CONTEXT_COLUMN

    def records(self) -> Iterator[tuple[Any, dict[str, Any]]]:
        for question, extra in super().records():
            yield (question, extra.get(self.context_column)), extra


Questions = Annotated[
    list[str] | None,
    typer.Argument(metavar="QUESTION", help="Questions about --context.", show_default=False),
]
Context = Annotated[str | None, Option("--context", "-c", help="The text answers come from.")]
ContextFile = Annotated[
    Path | None, Option("--context-file", metavar="FILE", help="Read the context from a file.")
]
ContextColumn = Annotated[
    str, Option("--context-column", metavar="COLUMN", help="--input: the context column.")
]
QuestionColumn = Annotated[
    str | None, Option("--question-column", metavar="COLUMN", help="--input: the question column.")
]
TopK = Annotated[int, Option("--top-k", min=1, help="Answers to show per question.")]
MaxLength = Annotated[
    int, Option("--max-length", min=8, help="Tokens per window of a long context.")
]
Stride = Annotated[int, Option("--stride", min=1, help="Tokens that consecutive windows share.")]
MaxAnswerLength = Annotated[
    int, Option("--max-answer-length", min=1, help="Longest answer, in tokens.")
]
AllowNoAnswer = Annotated[
    bool, Option("--allow-no-answer", help="SQuAD 2 models: answer nothing when no span wins.")
]
NullThreshold = Annotated[
    float,
    Option(
        "--null-score-diff-threshold",
        help="--allow-no-answer: how far the no-answer score must beat the best span.",
    ),
]
AnswersColumn = Annotated[
    str | None,
    Option(
        "--answers-column",
        metavar="COLUMN",
        help="Batch jobs: gold answers ({text: [...]}, a list or a string) to score "
        "exact match and F1 against.",
    ),
]


@with_task_options
def answer_cmd(
    questions: Questions = None,
    context: Context = None,
    context_file: ContextFile = None,
    context_column: ContextColumn = CONTEXT_COLUMN,
    question_column: QuestionColumn = None,
    model: opt.model_option(ANSWER_DEFAULT_HELP) = None,
    top_k: TopK = 1,
    max_length: MaxLength = 384,
    stride: Stride = 128,
    max_answer_length: MaxAnswerLength = 30,
    allow_no_answer: AllowNoAnswer = False,
    null_score_diff_threshold: NullThreshold = 0.0,
    backend: opt.BackendOption = opt.Backend.auto,
    answers_column: AnswersColumn = None,
    *,
    shared: TaskOptions,
) -> None:
    """Answer questions with a span of a context (extractive, as SQuAD models do).

    Example: nlpkit answer "Who wrote Hamlet?" --context "Hamlet is a tragedy written by
    William Shakespeare."
    """
    from nlpkit.tasks.answers import answer

    shared.score_against(answers_column)
    if shared.input_file is not None:
        shared.text_column = question_column or shared.text_column or QUESTION_COLUMN
    options: dict[str, Any] = {
        "model": model,
        "context": _context(context, context_file),
        "context_column": context_column,
        "top_k": top_k,
        "max_length": max_length,
        "stride": stride,
        "max_answer_length": max_answer_length,
        "allow_no_answer": allow_no_answer,
        "null_score_diff_threshold": null_score_diff_threshold,
        "backend": backend.value,
    }
    texts = text_arguments(questions or [])
    if shared.input_file is None or options["context"] is not None:
        shared.run(answer, texts, "answer", **options)
    else:
        shared.run(answer, _question_source(shared, texts, context_column), "answer", **options)


def _question_source(shared: TaskOptions, texts: list[str], column: str) -> QuestionSource:
    """The --input file's questions, each with its context column (checked to exist)."""
    source = QuestionSource(
        texts, shared.input_file, shared.text_column, shared.skip_empty, keep_columns=True
    )
    source.context_column = column
    if column not in source.columns():
        raise InputError(
            f"{shared.input_file}: no context column '{column}'; name it with "
            "--context-column, or pass --context TEXT for every question"
        )
    return source


def _context(text: str | None, file: Path | None) -> str | None:
    if text is not None and file is not None:
        raise InputError("pass --context or --context-file, not both")
    if file is None:
        return text
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{file}: cannot read the context ({exc})") from None
