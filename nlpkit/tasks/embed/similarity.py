"""Cosine similarity between texts, from their sentence vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nlpkit.errors import InputError
from nlpkit.inputs.readers import text_list


def similarity(
    texts: str | Sequence[str],
    others: str | Sequence[str] | None = None,
    model: str | None = None,
    **options: Any,
) -> Any:
    """Cosine scores: every text against every one of ``others`` (a numpy array
    [texts, others]), or against each other when ``others`` is None (at least two texts).
    ``options`` go to ``embed`` (batch_size, chunk, backend, threads...)."""
    from nlpkit.tasks.embed import embed

    first = text_list(texts)
    if others is None and len(first) < 2:
        raise InputError("similarity needs at least two texts to compare")
    second = first if others is None else text_list(others, "others")
    vectors = embed(first + (second if others is not None else []), model=model, **options)
    left = vectors[: len(first)]
    right = left if others is None else vectors[len(first) :]
    return (left @ right.T).clip(-1.0, 1.0)


def similarity_rows(texts: list[str], scores: Any) -> list[dict[str, Any]]:
    """Rows to show: one pair's score, or for more texts one row per text with its score
    against each text by number (1, 2, ...)."""
    if len(texts) == 2:
        return [{"text_a": texts[0], "text_b": texts[1], "score": round(float(scores[0, 1]), 4)}]
    return [
        {"text": text, **{str(j + 1): round(float(s), 4) for j, s in enumerate(row)}}
        for text, row in zip(texts, scores, strict=True)
    ]
