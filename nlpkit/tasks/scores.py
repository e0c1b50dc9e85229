"""Label probabilities per text from either backend, over length-sorted batches.

classify renders them as results; the ONNX gate compares the backends' labels.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence

from nlpkit.errors import NlpkitWarning, UsageError
from nlpkit.tasks.batching import (
    length_sorted_batches,
    pad_batch,
    tokenize_truncated,
    warn_truncated,
)

_GENERIC_LABEL = re.compile(r"^LABEL_\d+$")
# classify's batch size, which the ONNX gate scores with too (int8 scales activations per
# batch): on CPU, length-sorted batches of 32 ran faster than 64 for both backends
# (bench/inference.py), and the int8 model of the fused graph passes the gate at 32
CLASSIFY_BATCH = 32
Scorer = Callable[[list[list[int]]], list[list[float]]]


def scored_batches(
    ids: list[list[int]], batch_size: int, score: Scorer, advance: Callable[[int], None]
) -> list[list[float]]:
    """``score`` over batches of similar length; rows come back in the input order."""
    rows: list[list[float]] = [[] for _ in ids]
    for batch in length_sorted_batches([len(row) for row in ids], batch_size):
        for i, row in zip(batch, score([ids[i] for i in batch]), strict=True):
            rows[i] = row
        advance(len(batch))
    return rows


def torch_scores(loaded, texts: Sequence[str], batch_size: int, advance) -> list[list[float]]:
    """Probabilities from a transformers model (softmax, or sigmoid when multi-label)."""
    import torch

    multi_label = loaded.model.config.problem_type == "multi_label_classification"

    def score(rows: list[list[int]]) -> list[list[float]]:
        logits = loaded.model(**pad_batch(loaded, rows)).logits.float()
        return (logits.sigmoid() if multi_label else logits.softmax(dim=-1)).tolist()

    ids = tokenize_truncated(loaded, texts, loaded.max_input_tokens)
    with torch.inference_mode():
        return scored_batches(ids, batch_size, score, advance)


def onnx_scores(runner, texts: Sequence[str], batch_size: int, advance) -> list[list[float]]:
    """Probabilities from an ONNX Runtime session (nlpkit.models.backends.onnx)."""
    ids, cut = runner.encode(texts)
    warn_truncated(cut, len(ids), runner.max_length)
    return scored_batches(ids, batch_size, runner.scores, advance)


def best_ids(rows: list[list[float]]) -> list[int]:
    """The top label id of each row of probabilities."""
    return [max(range(len(row)), key=row.__getitem__) for row in rows]


def label_names(
    model: str, count: int, id2label: dict | None, labels: Sequence[str] | None = None
) -> list[str]:
    """The model's label names, or the ones given (which must match its label count)."""
    if labels is not None:
        if len(labels) != count:
            raise UsageError(
                f"labels gives {len(labels)} names but model '{model}' has {count} labels",
                param="labels",
            )
        return list(labels)
    names = [str((id2label or {}).get(i, f"LABEL_{i}")) for i in range(count)]
    if all(_GENERIC_LABEL.match(name) for name in names):
        warnings.warn(
            NlpkitWarning(
                f"model '{model}' has no label names (only {names[0]}...); "
                "name them with labels= (one name per label, in order)",
                param="labels",
            ),
            stacklevel=4,
        )
    return names
