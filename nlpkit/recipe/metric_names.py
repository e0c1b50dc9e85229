"""Metric names a recipe's `metrics:` list (and `nlpkit evaluate --metric`) accepts.

The built-in names are `evaluate`'s names, computed offline by nlpkit (nlpkit/training/
named_metrics.py) and reported under `evaluate`'s result keys. Any other entry goes
to `evaluate.load`: a local metric folder or script when it reads as a path, a
Hub metric otherwise. Plain data: recipe validation reads it without importing
`evaluate`, torch or transformers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MetricSpec:
    """A built-in metric: its result keys (as `evaluate` names them) and the model
    kinds (the task table's loaders) whose outputs it scores."""

    keys: tuple[str, ...]
    loaders: tuple[str, ...]


BUILTIN_METRICS = {
    "accuracy": MetricSpec(("accuracy",), ("sequence",)),
    "f1": MetricSpec(("f1",), ("sequence",)),
    "precision": MetricSpec(("precision",), ("sequence",)),
    "recall": MetricSpec(("recall",), ("sequence",)),
    "exact_match": MetricSpec(("exact_match",), ("sequence", "seq2seq")),
    "rouge": MetricSpec(("rouge1", "rouge2", "rougeL", "rougeLsum"), ("seq2seq",)),
    "sacrebleu": MetricSpec(("score",), ("seq2seq",)),
    "chrf": MetricSpec(("score",), ("seq2seq",)),
    "perplexity": MetricSpec(("perplexity",), ("causal",)),
}
PATH_PREFIXES = ("./", "../", "/", "~")


def is_metric_path(name: str) -> bool:
    """A local metric folder or script (run as code: only when the recipe names it)."""
    return name.startswith(PATH_PREFIXES) or name.endswith(".py")


def absolute_metric_paths(names: list, base: Path) -> list:
    """The list with its metric paths made absolute against ``base``."""
    return [
        str((base / Path(name).expanduser()).resolve())
        if isinstance(name, str) and is_metric_path(name)
        else name
        for name in names
    ]


def metric_label(name: str) -> str:
    """The short name a metric's keys are prefixed with when two metrics share a key."""
    return Path(name).stem if is_metric_path(name) else name.rsplit("/", 1)[-1]


def result_keys(names: Sequence[str]) -> list[str] | None:
    """The keys the listed metrics report (see `combined_keys`); None when an entry is
    not built in: its keys are known only once it runs."""
    if any(name not in BUILTIN_METRICS for name in names):
        return None
    own = [(name, BUILTIN_METRICS[name].keys) for name in names]
    return [key for _, keys in combined_keys(own) for key in keys.values()]


def first_key(names: Sequence[str]) -> str:
    """The default best-model metric of a `metrics:` list: its first key (as reported,
    prefixed where keys collide), else the loss. With a metric that is not built in, the
    first built-in key is a guess: name training.metric_for_best_model to be sure."""
    first = BUILTIN_METRICS.get(names[0]) if names else None
    keys = result_keys(names) or (first.keys if first else ())
    return [*keys, "loss"][0]


def combined_keys(
    own: Sequence[tuple[str, Sequence[str]]],
) -> list[tuple[str, dict[str, str]]]:
    """For each (metric, its keys): key -> key reported. A key two metrics share is
    prefixed with the metric's name (``sacrebleu_score``, ``chrf_score``), as
    `evaluate.combine` does."""
    counts = Counter(key for _, keys in own for key in keys)
    return [
        (name, {key: key if counts[key] == 1 else f"{metric_label(name)}_{key}" for key in keys})
        for name, keys in own
    ]
