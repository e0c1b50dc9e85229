"""Extractive question answering: the span of a context that answers a question.

A context longer than the model's input is read in windows that share ``stride``
tokens, and the best span is chosen across them (``spans.py``), as transformers'
run_qa.py post-processes a SQuAD model's start and end logits. Character offsets come
from the fast tokenizer and index the context exactly. Two backends give the same
answers: PyTorch and ONNX Runtime (no torch import), which ``auto`` picks when the
model has an export that passed nlpkit's gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from nlpkit.errors import InputError, ModelLoadError
from nlpkit.models.load import quiet_libraries
from nlpkit.models.resolve import default_model
from nlpkit.results import Answer
from nlpkit.tasks.answers.checks import check_pair, check_stride
from nlpkit.tasks.answers.spans import Logits, Settings, Window, answers_of, run_windows, split
from nlpkit.tasks.progress import Progress, progress_bar
from nlpkit.tasks.table import BY_COMMAND

TASK = BY_COMMAND["answer"]
ANSWER_BATCH = 32  # windows per batch, length-sorted and padded to their longest
MAX_LENGTH = 384  # the question-answering pipeline's window
STRIDE = 128  # ... and the tokens its windows share
Question = str | tuple[str, str] | dict[str, str]


@dataclass(frozen=True)
class Reader:
    """What either backend gives: the ``tokenizers`` Tokenizer that makes the windows,
    whether the question comes first, the longest window, and the logits of a batch."""

    tokenizer: Any
    question_first: bool
    max_length: int
    logits: Logits


@quiet_libraries()
def answer(
    questions: Question | Sequence[Question],
    context: str | None = None,
    model: str | None = None,
    context_column: str = "context",
    top_k: int = 1,
    max_length: int = MAX_LENGTH,
    stride: int = STRIDE,
    max_answer_length: int = 30,
    allow_no_answer: bool = False,
    null_score_diff_threshold: float = 0.0,
    batch_size: int = ANSWER_BATCH,
    device: str = "auto",
    dtype: str = "auto",
    progress: Progress = False,
    device_map: str | None = None,
    threads: int | None = None,
    backend: str = "auto",
) -> list[Answer]:
    """The answer to each question: a span of its context, with character offsets.

    ``questions``: a question (with ``context``), or a list of questions that share
    ``context``, or of ``(question, context)`` pairs, or of rows (dicts) with a
    ``question`` and a ``context_column``.
    Long contexts are read in windows of ``max_length`` tokens sharing ``stride``.
    ``top_k``: spans per question, best first. ``allow_no_answer``: SQuAD 2 models may
    answer "" when no span beats the no-answer score by ``null_score_diff_threshold``.
    ``backend``: ``auto`` (ONNX Runtime when the model has a gate-passing export, else
    PyTorch), ``torch`` or ``onnx``.
    """
    pairs = question_pairs(questions, context, context_column)
    if top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {top_k}")
    check_stride(stride, max_length, "--stride")
    name = model or default_model(TASK.command)
    reader = open_reader(name, device, dtype, device_map, threads, backend, len(pairs))
    window = min(max_length, reader.max_length)  # the model's own limit may be smaller
    settings = Settings(
        window,
        min(stride, window // 2),
        top_k,
        max_answer_length,
        allow_no_answer,
        null_score_diff_threshold,
    )
    windows = split(reader.tokenizer, pairs, settings, reader.question_first)
    with progress_bar(len(pairs), "answer", progress) as advance:
        scores = run_windows(windows, batch_size, reader.logits, advance)
    return answers_of(pairs, windows, scores, settings)


def question_pairs(
    questions: Question | Sequence[Question], context: str | None, column: str = "context"
) -> list[tuple[str, str]]:
    """(question, context) per question, each checked: a question needs a non-empty
    context, its own or the shared one."""
    items = [questions] if isinstance(questions, str | tuple | dict) else list(questions)
    if not items:
        raise InputError("no questions to answer")
    pairs = []
    for number, item in enumerate(items, 1):
        if isinstance(item, dict):
            item = (item.get("question"), item.get(column))
        question, own = item if isinstance(item, tuple) else (item, None)
        pairs.append(_checked(question, own if own is not None else context, number))
    return pairs


def _checked(question: Any, context: Any, number: int) -> tuple[str, str]:
    try:
        return check_pair(question, context, str(number))
    except InputError as exc:
        text = str(exc).removeprefix("data: row ")
        raise InputError(
            f"question {text}; pass --context TEXT, --context-file FILE or a context column"
        ) from None


def open_reader(
    name: str,
    device: str = "auto",
    dtype: str = "auto",
    device_map: str | None = None,
    threads: int | None = None,
    backend: str = "auto",
    count: int = 1,
) -> Reader:
    """The backend that reads answers for model ``name``: ONNX Runtime or PyTorch."""
    from nlpkit.tasks.onnx_choice import open_backend

    return open_backend(
        name, TASK.loader, backend, device, dtype, device_map, threads, count,
        onnx=partial(onnx_reader, name),
        torch=partial(torch_reader, name),
        check_head=partial(check_head, name),
    )  # fmt: skip


def onnx_reader(name: str, runner: Any) -> Reader:
    """A reader over an ONNX Runtime session (nlpkit.models.backends.onnx)."""
    from nlpkit.tasks.answers.feeds import onnx_logits

    question_first = runner.config.get("padding_side", "right") != "left"
    return Reader(runner.tokenizer, question_first, runner.max_length, onnx_logits(runner))


def torch_reader(name: str, loaded: Any) -> Reader:
    """A reader over a loaded transformers model, whose fast tokenizer gives offsets."""
    from nlpkit.tasks.onnx_choice import fast_tokenizer

    tokenizer = fast_tokenizer(name, TASK.command, loaded)
    question_first = loaded.tokenizer.padding_side == "right"
    return Reader(tokenizer, question_first, loaded.max_input_tokens, _torch_logits(loaded))


def _torch_logits(loaded: Any) -> Logits:
    import torch

    def logits(windows: list[Window]):
        rows = {"input_ids": [w.ids for w in windows], "token_type_ids": [w.types for w in windows]}
        batch = loaded.tokenizer.pad(rows, return_tensors="pt")
        batch = {key: value.to(loaded.device) for key, value in batch.items()}
        if "token_type_ids" not in loaded.tokenizer.model_input_names:
            batch.pop("token_type_ids", None)
        with torch.inference_mode():
            output = loaded.model(**batch)
        return output.start_logits.float().cpu().numpy(), output.end_logits.float().cpu().numpy()

    return logits


def check_head(name: str, architectures: list[str]) -> None:
    """A classifier or a bare encoder would answer with a random new head."""
    if architectures and not any(a.endswith("ForQuestionAnswering") for a in architectures):
        raise ModelLoadError(
            f"model '{name}' is a {architectures[0]}, not a question-answering model (it has "
            "no start/end span head); pick one fine-tuned on SQuAD, e.g. "
            f"{TASK.default_model}, or fine-tune one (task: question-answering)"
        )
