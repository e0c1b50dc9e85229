"""Texts longer than the model's input cut into overlapping windows, and stitched back.

A token near a window's edge sees only one side of its context, so each window decides
the tokens it holds nearest its middle: where two windows overlap, the earlier one
labels the first half of the overlap and the later one the second. Every token of the
text gets exactly one probability row, and aggregation then runs once over the whole
text, so an entity that straddles a cut is found once, whole (transformers' pipeline
instead merges entities found per window, keeping the longer of two that overlap).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from nlpkit.tasks.batching import length_sorted_batches

# The share of a window that the next one repeats: each token keeps at least an eighth
# of a window of context on either side, for a third more model work on long texts.
OVERLAP = 4
_LOCK = threading.Lock()  # the truncation settings and the encode belong together

Logits = Callable[[list[list[int]]], Any]  # one batch of token-id rows -> (rows, len, labels)


@dataclass
class TextTokens:
    """One text's tokens, whatever windows it took, with a probability row per token."""

    text: str
    ids: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    offsets: list[tuple[int, int]] = field(default_factory=list)
    special: list[bool] = field(default_factory=list)
    probs: Any = None  # numpy (len(ids), labels), filled window by window
    pending: int = 0  # windows still to run


@dataclass(frozen=True)
class Window:
    """What the model reads (``ids``, special tokens included) and which of the text's
    tokens it decides: its tokens ``first..first+len(content)`` of the text, of which it
    keeps ``keep`` (text positions)."""

    text: int
    ids: list[int]
    content: list[int]  # positions in ``ids`` of the text's own tokens
    first: int
    keep: tuple[int, int]


def split(tokenizer: Any, texts: Sequence[str], max_length: int) -> tuple[list, list]:
    """(TextTokens per text, Windows of at most ``max_length`` ids) from a ``tokenizers``
    Tokenizer: its own truncation with stride makes the windows and their special tokens."""
    content_length = max(1, max_length - tokenizer.num_special_tokens_to_add(False))
    stride = content_length // OVERLAP
    with _LOCK:
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length, stride=stride)
        encodings = tokenizer.encode_batch(list(texts))
    texts_tokens, windows = [], []
    for index, (text, encoding) in enumerate(zip(texts, encodings, strict=True)):
        tokens = TextTokens(text)
        parts = [encoding, *encoding.overflowing]
        for part_index, part in enumerate(parts):
            content = [k for k, sequence in enumerate(part.sequence_ids) if sequence == 0]
            first = len(tokens.ids) - (stride if part_index else 0)
            _extend(tokens, part, content[stride if part_index else 0 :])
            windows.append(Window(index, part.ids, content, first, (0, 0)))
        tokens.pending = len(parts)
        windows[-len(parts) :] = _kept(windows[-len(parts) :], len(tokens.ids))
        texts_tokens.append(tokens)
    return texts_tokens, windows


def _extend(tokens: TextTokens, part: Any, positions: list[int]) -> None:
    for k in positions:
        tokens.ids.append(part.ids[k])
        tokens.tokens.append(part.tokens[k])
        tokens.offsets.append(tuple(part.offsets[k]))
        tokens.special.append(bool(part.special_tokens_mask[k]))


def _kept(windows: list[Window], total: int) -> list[Window]:
    """Each window keeps the text positions nearest its middle: overlaps split in two."""
    cuts = [0]
    for before, after in pairwise(windows):
        end = before.first + len(before.content)
        cuts.append((after.first + end) // 2)
    cuts.append(total)
    return [
        Window(w.text, w.ids, w.content, w.first, (cuts[i], cuts[i + 1]))
        for i, w in enumerate(windows)
    ]


def run_windows(
    texts: list[TextTokens],
    windows: list[Window],
    labels: int,
    batch_size: int,
    logits: Logits,
    advance: Callable[[int], None],
) -> None:
    """Fill each text's ``probs`` from its windows, run in length-sorted batches;
    ``advance`` hears of each text whose windows are all done."""
    import numpy as np

    for tokens in texts:
        tokens.probs = np.zeros((len(tokens.ids), labels), dtype=np.float32)
    for batch in length_sorted_batches([len(w.ids) for w in windows], batch_size):
        rows = np.asarray(logits([windows[i].ids for i in batch]), dtype=np.float32)
        done = 0
        for row, i in zip(rows, batch, strict=True):
            window, tokens = windows[i], texts[windows[i].text]
            lo, hi = window.keep
            positions = window.content[lo - window.first : hi - window.first]
            tokens.probs[lo:hi] = softmax(row[positions])
            tokens.pending -= 1
            done += tokens.pending == 0
        advance(done)


def softmax(logits: Any) -> Any:
    import numpy as np

    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
