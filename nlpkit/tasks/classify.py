"""Text classification: batched, length-sorted, dynamically padded inference."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

from nlpkit.devices import use_threads
from nlpkit.errors import NlpkitWarning
from nlpkit.models.load import LoadedModel, load_model, quiet_libraries
from nlpkit.models.resolve import default_model
from nlpkit.results import Classification, LabelScore
from nlpkit.tasks.batching import length_sorted_batches, pad_batch, tokenize_truncated
from nlpkit.tasks.progress import Progress, progress_bar
from nlpkit.tasks.table import BY_COMMAND

TASK = BY_COMMAND["classify"]

_GENERIC_LABEL = re.compile(r"^LABEL_\d+$")


@quiet_libraries()
def classify(
    texts: str | Sequence[str],
    model: str | None = None,
    top_k: int = 1,
    batch_size: int = 64,
    device: str = "auto",
    dtype: str = "auto",
    labels: Sequence[str] | None = None,
    progress: Progress = False,
    device_map: str | None = None,
    threads: int | None = None,
) -> list[Classification]:
    """Label each text; ``top_k`` keeps the best k labels per text in ``.top``.

    ``threads``: CPU threads for torch (default: the cores no other process keeps busy).
    """
    items = [texts] if isinstance(texts, str) else list(texts)
    loaded = load_model(
        TASK.loader, model or default_model(TASK.command), device, dtype, device_map=device_map
    )
    use_threads(threads)
    import torch

    names = label_names(loaded, labels)
    ids = tokenize_truncated(loaded, items, loaded.max_input_tokens)
    results: list[Classification | None] = [None] * len(items)
    multi_label = loaded.model.config.problem_type == "multi_label_classification"
    with progress_bar(len(items), "classify", progress) as advance, torch.inference_mode():
        for batch in length_sorted_batches([len(row) for row in ids], batch_size):
            logits = loaded.model(**pad_batch(loaded, [ids[i] for i in batch])).logits.float()
            scores = logits.sigmoid() if multi_label else logits.softmax(dim=-1)
            for i, row in zip(batch, scores.tolist(), strict=True):
                results[i] = _result(items[i], row, names, top_k)
            advance(len(batch))
    return results  # type: ignore[return-value]


def label_names(loaded: LoadedModel, labels: Sequence[str] | None = None) -> list[str]:
    """The model's label names, or the ones given (which must match its label count)."""
    count = loaded.model.config.num_labels
    if labels is not None:
        from nlpkit.errors import UsageError

        if len(labels) != count:
            raise UsageError(
                f"labels gives {len(labels)} names but model '{loaded.name}' has {count} labels",
                param="labels",
            )
        return list(labels)
    id2label = loaded.model.config.id2label or {}
    names = [str(id2label.get(i, f"LABEL_{i}")) for i in range(count)]
    if all(_GENERIC_LABEL.match(name) for name in names):
        warnings.warn(
            NlpkitWarning(
                f"model '{loaded.name}' has no label names (only {names[0]}...); "
                "name them with labels= (one name per label, in order)",
                param="labels",
            ),
            stacklevel=3,
        )
    return names


def _result(text: str, scores: list[float], names: list[str], top_k: int) -> Classification:
    ranked = sorted(range(len(scores)), key=lambda j: -scores[j])[: max(1, top_k)]
    top = [LabelScore(names[j], round(scores[j], 6)) for j in ranked]
    return Classification(text=text, label=top[0].label, score=top[0].score, top=top)
