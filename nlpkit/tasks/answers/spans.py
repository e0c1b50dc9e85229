"""Question + context -> windows -> the best answer spans, as run_qa.py reads them.

A context longer than the window is cut by the tokenizer's own truncation with
``stride`` (the tokens two windows share), the question repeated in each. Each
window scores every context token as an answer's start and end; the candidates are
the ``n_best`` best starts times the ``n_best`` best ends of each window (only
context tokens, an end not before its start, at most ``max_answer_length`` tokens),
ranked across all of the question's windows by start + end logit, as transformers'
run_qa.py postprocess_qa_predictions ranks them. A span's score is its softmax over
the candidates kept (run_qa.py's "probability"). Offsets come from the fast
tokenizer and index the context exactly. With ``allow_no_answer`` (SQuAD 2), the
question has no answer when the best "no answer" score (the first token's start +
end, lowest over the windows) beats the best span by more than
``null_score_diff_threshold``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nlpkit.errors import InputError
from nlpkit.results import Answer, AnswerSpan
from nlpkit.tasks.answers.checks import question_room
from nlpkit.tasks.batching import length_sorted_batches

_LOCK = threading.Lock()  # the truncation settings and the encode belong together
N_BEST = 20
NULL = 0  # the token whose start + end scores "no answer" (CLS, first in BERT-style inputs)

# one batch of windows -> (start logits, end logits), each (windows, longest window)
Logits = Callable[[list["Window"]], tuple[Any, Any]]


@dataclass(frozen=True)
class Window:
    """One window of one question: its token ids and segment ids, and the character
    span in the context of each token (None for question and special tokens)."""

    question: int
    ids: list[int]
    types: list[int]
    offsets: list[tuple[int, int] | None]


@dataclass(frozen=True)
class Settings:
    """How windows are cut and spans read back (the CLI's options)."""

    max_length: int
    stride: int = 128
    top_k: int = 1
    max_answer_length: int = 30
    allow_no_answer: bool = False
    null_score_diff_threshold: float = 0.0
    n_best: int = N_BEST


def split(
    tokenizer: Any, pairs: Sequence[tuple[str, str]], settings: Settings, question_first: bool
) -> list[Window]:
    """Windows of at most ``settings.max_length`` tokens from a ``tokenizers`` Tokenizer."""
    side = 1 if question_first else 0
    inputs = [(q, c) if question_first else (c, q) for q, c in pairs]
    with _LOCK:
        tokenizer.no_padding()
        tokenizer.no_truncation()
        _check_questions(tokenizer, [q for q, _ in pairs], settings)
        strategy = "only_second" if question_first else "only_first"
        tokenizer.enable_truncation(settings.max_length, stride=settings.stride, strategy=strategy)
        encodings = tokenizer.encode_batch(inputs)
    windows = []
    for index, encoding in enumerate(encodings):
        for part in (encoding, *encoding.overflowing):
            offsets = [
                tuple(o) if s == side else None
                for o, s in zip(part.offsets, part.sequence_ids, strict=True)
            ]
            windows.append(Window(index, part.ids, part.type_ids, offsets))
    return windows


def _check_questions(tokenizer: Any, questions: list[str], settings: Settings) -> None:
    """Each question leaves its windows more context than the stride they share (else
    the tokenizer cannot cut the context), as the question-answering pipeline checks."""
    special = tokenizer.num_special_tokens_to_add(True)
    room = question_room(settings.max_length, settings.stride, special)
    lengths = [len(e.ids) for e in tokenizer.encode_batch(questions, add_special_tokens=False)]
    for number, length in enumerate(lengths, 1):
        if length > room:
            raise InputError(
                f"question {number} has {length} tokens; windows of {settings.max_length} "
                f"tokens sharing {settings.stride} leave room for {room}: shorten it, raise "
                "--max-length or lower --stride"
            )


def run_windows(
    windows: list[Window], batch_size: int, logits: Logits, advance: Callable[[int], None]
) -> list[tuple[Any, Any]]:
    """(start, end) logits of each window, run in length-sorted batches; ``advance``
    hears of each question whose windows are all done."""
    pending: dict[int, int] = {}
    for window in windows:
        pending[window.question] = pending.get(window.question, 0) + 1
    scores: list[tuple[Any, Any]] = [None] * len(windows)  # type: ignore[list-item]
    for batch in length_sorted_batches([len(w.ids) for w in windows], batch_size):
        starts, ends = logits([windows[i] for i in batch])
        done = 0
        for row, i in enumerate(batch):
            size = len(windows[i].ids)
            scores[i] = (starts[row, :size], ends[row, :size])
            pending[windows[i].question] -= 1
            done += pending[windows[i].question] == 0
        advance(done)
    return scores


def answers_of(
    pairs: Sequence[tuple[str, str]],
    windows: list[Window],
    scores: list[tuple[Any, Any]],
    settings: Settings,
) -> list[Answer]:
    """Each question's best spans across its windows (see the module's docstring)."""
    by_question: list[list[int]] = [[] for _ in pairs]
    for index, window in enumerate(windows):
        by_question[window.question].append(index)
    return [
        best_answer(q, c, [windows[i] for i in kept], [scores[i] for i in kept], settings)
        for (q, c), kept in zip(pairs, by_question, strict=True)
    ]


def best_answer(
    question: str,
    context: str,
    windows: list[Window],
    scores: list[tuple[Any, Any]],
    settings: Settings,
) -> Answer:
    """One question's answer from the logits of its windows."""
    import numpy as np

    found: dict[tuple[int, int], float] = {}
    null = float("inf")
    for window, (start, end) in zip(windows, scores, strict=True):
        null = min(null, float(start[NULL] + end[NULL]))
        for a, b, score in _candidates(window, start, end, settings):
            span = (window.offsets[a][0], window.offsets[b][1])  # type: ignore[index]
            found[span] = max(found.get(span, -np.inf), score)
    ranked = sorted(found.items(), key=lambda item: -item[1])[: settings.n_best]
    logits = [score for _, score in ranked] + ([null] if settings.allow_no_answer else [])
    probabilities = _softmax(np.asarray(logits, dtype=np.float64)) if logits else []
    spans = [
        AnswerSpan(context[s:e], s, e, float(p))
        for ((s, e), _), p in zip(ranked, probabilities, strict=False)
    ]
    no_answer = not ranked or (
        settings.allow_no_answer and null - ranked[0][1] > settings.null_score_diff_threshold
    )
    if no_answer:
        empty = AnswerSpan("", 0, 0, float(probabilities[-1]) if len(logits) else 0.0)
        spans = [empty, *spans]
    best = spans[0]
    top = spans[: settings.top_k] if settings.top_k > 1 else []
    return Answer(question, best.answer, best.start, best.end, best.score, top)


def _candidates(window: Window, start: Any, end: Any, settings: Settings) -> list:
    """(start token, end token, score) of the window's best starts x best ends."""
    import numpy as np

    inside = np.array([o is not None for o in window.offsets])
    if not inside.any():
        return []
    masked_start = np.where(inside, start, -np.inf)
    masked_end = np.where(inside, end, -np.inf)
    count = min(settings.n_best, int(inside.sum()))
    starts = np.argsort(masked_start)[::-1][:count]
    ends = np.argsort(masked_end)[::-1][:count]
    a, b = np.meshgrid(starts, ends, indexing="ij")
    a, b = a.ravel(), b.ravel()
    ok = (b >= a) & (b - a + 1 <= settings.max_answer_length)
    a, b = a[ok], b[ok]
    total = start[a] + end[b]
    return list(zip(a.tolist(), b.tolist(), total.tolist(), strict=True))


def _softmax(values: Any) -> Any:
    import numpy as np

    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()
