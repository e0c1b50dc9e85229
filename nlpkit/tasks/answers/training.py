"""Training data for extractive question answering, as run_qa.py prepares it.

Each question is paired with its context and tokenized with truncation of the
context only: a context longer than ``max_length`` becomes several windows that
share ``stride`` tokens. A window's labels are the token positions of the answer's
first and last character, or the first token (CLS, "no answer") when the answer is
not wholly inside it. Every window also keeps what evaluation needs to turn logits
back into text: its question's row, the character offsets of its context tokens
(None elsewhere), the context and the gold answers. The Trainer drops those columns
before the model sees a batch; the task's collator drops them everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from nlpkit.errors import InputError
from nlpkit.tasks.answers.checks import check_pair, check_stride, question_room

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe

ROW = "question_row"  # the feature's question, as an index into the split's rows
OFFSETS = "offset_mapping"
CONTEXT = "context_text"
GOLD = "gold_answers"
LABELS = ("start_positions", "end_positions")
KEPT = (ROW, OFFSETS, CONTEXT, GOLD)  # read by evaluation, never by the model


def gold_answers(value: Any, context: str, row: str) -> list[tuple[str, int]]:
    """A row's answers as (text, start) pairs, each checked against its context."""
    if not isinstance(value, dict) or "text" not in value:
        raise InputError(
            f"data: row {row}: answers must be {{text: [...], answer_start: [...]}} "
            f"(SQuAD layout), got {str(value)[:60]!r}"
        )
    texts = _listed(value.get("text"))
    starts = _listed(value.get("answer_start"))
    if len(texts) != len(starts):
        raise InputError(
            f"data: row {row}: {len(texts)} answer texts but {len(starts)} answer_start values"
        )
    pairs = []
    for text, start in zip(texts, starts, strict=True):
        start = int(start)
        if context[start : start + len(text)] != text:
            found = context[start : start + len(text)]
            raise InputError(
                f"data: row {row}: answer {text!r} is not at answer_start {start} of its "
                f"context (the context has {found!r} there); fix answer_start"
            )
        pairs.append((str(text), start))
    return pairs


def _listed(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def answer_encoder(recipe: Recipe, tokenizer: Any) -> Callable:
    """A batched datasets.map function: (question, context, answers) rows -> windows with
    answer token positions, and what evaluation reads back (``KEPT``)."""
    data = recipe.data
    check_stride(data.stride, data.max_length)
    question_first = tokenizer.padding_side == "right"
    counter = [0]  # rows seen before this batch: datasets.map numbers no rows for us

    def encode(batch: dict[str, list]) -> dict[str, list]:
        first = counter[0]
        counter[0] += len(batch[data.question_column])
        ids = batch.get("id") or [str(first + i) for i in range(len(batch[data.question_column]))]
        pairs = [
            check_pair(q, c, str(i))
            for q, c, i in zip(
                batch[data.question_column], batch[data.context_column], ids, strict=True
            )
        ]
        answers = [
            gold_answers(a, c, str(i))
            for a, (_, c), i in zip(batch[data.answers_column], pairs, ids, strict=True)
        ]
        contexts = [p[1] for p in pairs]
        questions = short_questions(tokenizer, [p[0] for p in pairs], data.max_length, data.stride)
        encoded = tokenizer(
            questions if question_first else contexts,
            contexts if question_first else questions,
            truncation="only_second" if question_first else "only_first",
            max_length=data.max_length,
            stride=data.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        rows = encoded.pop("overflow_to_sample_mapping")
        side = 1 if question_first else 0
        starts, ends, offsets = [], [], []
        for index, row in enumerate(rows):
            sequence = encoded.sequence_ids(index)
            kept = [
                o if s == side else None
                for o, s in zip(encoded["offset_mapping"][index], sequence, strict=True)
            ]
            start, end = answer_tokens(kept, answers[row][0] if answers[row] else None)
            starts.append(start)
            ends.append(end)
            offsets.append(kept)
        encoded["offset_mapping"] = offsets
        encoded[LABELS[0]], encoded[LABELS[1]] = starts, ends
        encoded[ROW] = [first + row for row in rows]
        encoded[CONTEXT] = [contexts[row] for row in rows]
        encoded[GOLD] = [[text for text, _ in answers[row]] for row in rows]
        return encoded

    return encode


def short_questions(tokenizer: Any, questions: list[str], max_length: int, stride: int) -> list:
    """Questions cut to the tokens a window has room for (a rare 60-word question would
    leave no context in the window); the cut falls on a token boundary."""
    room = question_room(max_length, stride, tokenizer.num_special_tokens_to_add(pair=True))
    encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    return [
        question if len(offsets) <= room else question[: offsets[max(room, 1) - 1][1]]
        for question, offsets in zip(questions, encoded["offset_mapping"], strict=True)
    ]


def answer_tokens(
    offsets: Sequence[tuple[int, int] | None], answer: tuple[str, int] | None
) -> tuple[int, int]:
    """The first and last token of ``answer`` in one window, or (0, 0) when the window
    does not hold it whole (the CLS token: "no answer here", as run_qa.py labels it)."""
    if answer is None:
        return 0, 0
    start_char = answer[1]
    end_char = start_char + len(answer[0])
    inside = [i for i, o in enumerate(offsets) if o is not None]
    if not inside or offsets[inside[0]][0] > start_char or offsets[inside[-1]][1] < end_char:
        return 0, 0
    start = next(i for i in inside if offsets[i][1] > start_char)
    end = next(i for i in reversed(inside) if offsets[i][0] < end_char)
    return start, end


def answer_scorer(recipe: Recipe, dataset: Any, score: Callable | None = None) -> Callable:
    """A Trainer ``compute_metrics`` over (start logits, end logits) of the eval windows,
    in ``dataset``'s order: each question's answer is read back across its windows
    (spans.py), then scored by ``score`` (predicted texts, gold answer lists), by
    default SQuAD v1.1's exact match and F1."""
    from nlpkit.tasks.answers.spans import Settings
    from nlpkit.tasks.answers.squad import squad_scores

    data = recipe.data
    settings = Settings(
        data.max_length,
        data.stride,
        max_answer_length=data.max_answer_length,
        n_best=data.n_best_size,
    )
    columns = dataset.select_columns(list(KEPT))

    def compute(eval_pred) -> dict[str, float]:
        starts, ends = eval_pred.predictions[:2]
        predicted, gold = read_answers(columns, starts, ends, settings)
        return (score or squad_scores)(predicted, gold)

    return compute


def read_answers(columns: Any, starts: Any, ends: Any, settings: Any) -> tuple[list, list]:
    """The predicted answer text and the gold answers of each question in ``columns``
    (the eval windows' KEPT columns), from its windows' logits."""
    from nlpkit.tasks.answers.spans import Window, best_answer

    groups: dict[int, list[int]] = {}
    for index, row in enumerate(columns[ROW]):
        groups.setdefault(row, []).append(index)
    offsets, contexts, golds = columns[OFFSETS], columns[CONTEXT], columns[GOLD]
    predicted, gold = [], []
    for kept in groups.values():
        windows = [Window(0, [], [], [tuple(o) if o else None for o in offsets[i]]) for i in kept]
        scores = [
            (starts[i][: len(w.offsets)], ends[i][: len(w.offsets)])
            for i, w in zip(kept, windows, strict=True)
        ]
        found = best_answer("", contexts[kept[0]], windows, scores, settings)
        predicted.append(found.answer)
        gold.append(golds[kept[0]])
    return predicted, gold
