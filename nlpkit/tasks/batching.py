"""Length-sorted batches with dynamic padding: the main source of speed on CPU."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from nlpkit.errors import NlpkitWarning

if TYPE_CHECKING:  # annotations only: the loader is not imported for them
    from nlpkit.models.load import LoadedModel


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices grouped into batches of similar length, longest first (fail fast on OOM)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def tokenize_truncated(
    loaded: LoadedModel, texts: Sequence[str], max_length: int
) -> list[list[int]]:
    """Token ids per text, cut to ``max_length``; warns once when any text was cut."""
    encoded = loaded.tokenizer(list(texts), truncation=True, max_length=max_length)
    ids = encoded["input_ids"]
    encodings = getattr(encoded, "encodings", None)
    if encodings:
        cut = sum(1 for e in encodings if e.overflowing)
    else:
        cut = sum(1 for row in ids if len(row) >= max_length)
    warn_truncated(cut, len(ids), max_length)
    return ids


def warn_truncated(cut: int, total: int, max_length: int) -> None:
    """One warning for the texts cut to the model's input limit, if any."""
    if cut:
        warnings.warn(
            f"{cut} of {total} texts were longer than {max_length} tokens and were truncated",
            NlpkitWarning,
            stacklevel=4,
        )


def pad_batch(loaded: LoadedModel, rows: list[list[int]]):
    """Pad one batch to its own longest row and move it to the model's device."""
    batch = loaded.tokenizer.pad({"input_ids": rows}, return_tensors="pt")
    return {key: value.to(loaded.device) for key, value in batch.items()}
