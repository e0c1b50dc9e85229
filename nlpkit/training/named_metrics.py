"""Metrics by name, the `evaluate` way: a recipe's `metrics:` list becomes one scorer.

The built-in names (nlpkit/recipe/metric_names.py) are computed here, offline, with
scikit-learn, rouge-score and sacrebleu, and reported under `evaluate`'s keys
(``f1``, ``rouge1`` ... ``rougeLsum``, sacreBLEU's ``score``). Any other name goes
through ``evaluate.load``: a local metric folder or script (code the recipe named
by its path), or a Hub metric, which fails at once when the Hub is offline.
`evaluate` is imported only then: it costs seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpkit.errors import RecipeError, first_line
from nlpkit.recipe.metric_names import BUILTIN_METRICS, combined_keys, is_metric_path
from nlpkit.training import metrics as offline
from nlpkit.training.tracking import require_package

Compute = Callable[[list, list], dict[str, Any]]


@dataclass(frozen=True)
class NamedMetric:
    name: str
    compute: Compute


def load_metrics(names: Sequence[str]) -> list[NamedMetric]:
    """Each name as a metric, loaded now so that a missing one fails before training."""
    return [NamedMetric(name, _builtin(name) or _from_evaluate(name)) for name in names]


def score(metrics: Sequence[NamedMetric], predictions: list, references: list) -> dict[str, float]:
    """Every metric's numbers under its keys; a key two metrics share gets their names."""
    results = [(m.name, m.compute(predictions, references)) for m in metrics]
    own = [
        (name, [key for key, value in result.items() if _is_number(value)])
        for name, result in results
    ]
    merged: dict[str, float] = {}
    for (_, result), (_, keys) in zip(results, combined_keys(own), strict=True):
        merged.update({shown: float(result[key]) for key, shown in keys.items()})
    return merged


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) or hasattr(value, "item")


def _builtin(name: str) -> Compute | None:
    if name not in BUILTIN_METRICS:
        return None
    if name in ("f1", "precision", "recall"):
        return lambda predictions, references: _sklearn(name, predictions, references)
    return {
        "accuracy": lambda p, r: {"accuracy": offline.accuracy(p, r)},
        "exact_match": lambda p, r: {"exact_match": _exact_match(p, r)},
        "rouge": _rouge,
        "sacrebleu": lambda p, r: {"score": offline.bleu_chrf(p, r)["bleu"]},
        "chrf": lambda p, r: {"score": offline.bleu_chrf(p, r)["chrf"]},
        "perplexity": lambda p, r: {},  # from the eval loss, added with the final metrics
    }[name]


def _rouge(predictions: list, references: list) -> dict[str, float]:
    """On `evaluate`'s scale (0-1), with its four keys."""
    scores = offline.rouge(predictions, references, BUILTIN_METRICS["rouge"].keys)
    return {key: value / 100 for key, value in scores.items()}


def _sklearn(name: str, predictions: list, references: list) -> dict[str, float]:
    """As `evaluate`'s metric: binary with two labels, macro-averaged with more."""
    from sklearn import metrics

    average = "binary" if len(set(references) | set(predictions)) <= 2 else "macro"
    function = getattr(metrics, f"{name}_score")
    return {name: float(function(references, predictions, average=average, zero_division=0))}


def _exact_match(predictions: list, references: list) -> float:
    offline.check_lengths(predictions, references)
    pairs = zip(predictions, references, strict=True)
    matches = sum(str(p).strip() == str(r).strip() for p, r in pairs)
    return matches / max(len(references), 1)


def _from_evaluate(name: str) -> Compute:
    if is_metric_path(name) and not Path(name).exists():
        raise RecipeError(f"no such metric folder or script: {name}", param="metrics")
    if not is_metric_path(name):
        _check_hub(name)
    require_package(
        "evaluate", f'the metric {name} loads through `evaluate`: pip install "evaluate"'
    )
    import evaluate

    try:
        module = evaluate.load(name)
    except (OSError, ValueError, ImportError, TypeError) as exc:
        raise RecipeError(
            f"cannot load the metric {name} with evaluate.load ({first_line(exc)}); "
            f"{_offline_choices()}",
            param="metrics",
        ) from exc
    return lambda predictions, references: module.compute(
        predictions=predictions, references=references
    )


def _check_hub(name: str) -> None:
    from nlpkit.models.resolve import hub_offline

    if hub_offline():
        raise RecipeError(
            f"the metric {name} is a Hub metric and the Hub is offline (HF_HUB_OFFLINE=1); "
            + _offline_choices(),
            param="metrics",
        )


def _offline_choices() -> str:
    return (
        f"offline, use a built-in metric ({', '.join(BUILTIN_METRICS)}) "
        "or a local metric script named by its path (./my_metric.py)"
    )
