"""Found answers scored against a gold column: SQuAD v1.1 exact match and F1.

A gold cell is SQuAD's ``{"text": [...], "answer_start": [...]}``, a list of answer
texts, or one answer text; the best match among them counts, as in the official script.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

from nlpkit.errors import InputError
from nlpkit.tasks.answers.squad import squad_scores


def gold_texts(value: Any, row: int) -> list[str]:
    """A gold cell's answer texts (a JSON string of one, as csv carries it, is read)."""
    if isinstance(value, str) and value[:1] in "[{":
        with contextlib.suppress(ValueError):  # a text that starts with a bracket
            value = json.loads(value)
    if isinstance(value, dict):
        value = value.get("text")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InputError(
        f"row {row}: gold answers must be {{text: [...], answer_start: [...]}}, a list of "
        f"texts or a text, got {str(value)[:60]!r}"
    )


def answer_scores(found: Sequence[str], gold: Sequence[Any]) -> dict[str, float]:
    """Exact match and F1 (0-100) of found answers against gold cells."""
    references = [gold_texts(value, number) for number, value in enumerate(gold, 1)]
    return squad_scores(list(found), references)
