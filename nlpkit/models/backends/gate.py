"""The accuracy gate: an exported model is used only if it labels evaluation data as well
as the model it came from.

fp32 must agree with PyTorch on at least 99% of the texts (a sound export agrees on
all but rounding ties); int8 must also stay within 0.5 accuracy points of fp32. The
figures go to ``report.json`` beside the models, and ``chosen`` names the file the
``auto`` backend runs: int8 if it passed and labelled the data faster than fp32 on this
CPU (on x86 CPUs without VNNI exact int8 can be the slower of the two), else fp32, else
none (PyTorch). A task whose
outputs are not one label per text brings its own ``GateMetric`` (entities: F1 over
the words' tags, agreement per word).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nlpkit.atomic import write_text
from nlpkit.models.backends import FP32_FILE, INT8_FILE, REPORT_FILE
from nlpkit.models.backends.cpu import cpu_info
from nlpkit.models.backends.export import INT8_RECIPES, Int8Recipe

MAX_ACCURACY_DROP = 0.005
MIN_AGREEMENT = 0.99
# int8 is used only when it labels the gate's data at least this much faster than fp32:
# a passing int8 file that is no faster only costs accuracy.
MIN_INT8_SPEEDUP = 1.1
Predict = Callable[[Path], list]


@dataclass(frozen=True)
class GateData:
    """Labelled texts (label ids) and where they came from, for the report."""

    texts: list[str]
    labels: list
    source: str


def accuracy(predicted: Sequence, labels: Sequence) -> float:
    return sum(p == y for p, y in zip(predicted, labels, strict=True)) / max(1, len(labels))


@dataclass(frozen=True)
class GateMetric:
    """How the gate scores predictions: ``score`` against the gold labels (reported
    under ``name``), ``agreement`` with the model exported from."""

    name: str = "accuracy"
    score: Callable[[list, list], float] = accuracy
    agreement: Callable[[list, list], float] = accuracy
    # int8 against fp32: a task whose outputs move with tiny logit changes (a span's edge)
    # may ask less here, its score's bound still holding
    int8_agreement: float = MIN_AGREEMENT


ACCURACY = GateMetric()


def _scored(
    path: Path, file: str, predict: Predict, data: GateData, reference: list, metric: GateMetric
) -> tuple[list, dict]:
    """``path``'s predictions, and its score, agreement and seconds (session included)."""
    started = time.perf_counter()
    predicted = predict(path)
    seconds = time.perf_counter() - started
    return predicted, {
        "file": file,
        metric.name: round(metric.score(predicted, data.labels), 4),
        "agreement": round(metric.agreement(predicted, reference), 4),
        "seconds": round(seconds, 2),
    }


def run_gate(
    folder: Path,
    data: GateData,
    torch_labels: list,
    predict: Predict,
    int8: bool = True,
    recipes: Sequence[Int8Recipe] = INT8_RECIPES,
    metric: GateMetric = ACCURACY,
) -> dict:
    """Score ``folder/model.onnx`` (and int8 candidates) on ``data``; write the report.

    ``predict(path)`` labels ``data.texts`` with one ONNX file. int8 recipes are tried
    mildest first; the first that passes is kept as ``model-int8.onnx``, the others
    are deleted.
    """
    started = time.monotonic()
    torch_score = metric.score(torch_labels, data.labels)
    fp32_labels, fp32 = _scored(folder / FP32_FILE, FP32_FILE, predict, data, torch_labels, metric)
    fp32["passed"] = _passes(fp32, torch_score, MIN_AGREEMENT, metric)
    attempts: list[dict] = []
    if int8 and fp32["passed"]:
        for number, recipe in enumerate(recipes, 1):
            attempt = _try_int8(
                folder, recipe, data, fp32_labels, fp32[metric.name], predict, metric
            )
            attempts.append({"number": number, **attempt})
            if attempt["passed"]:
                break
    kept = next((a for a in attempts if a["passed"]), None)
    faster = kept is not None and kept["seconds"] * MIN_INT8_SPEEDUP <= fp32["seconds"]
    chosen = kept["file"] if faster else None
    report = {
        "eval_data": data.source,
        "samples": len(data.texts),
        "gate": {
            f"max_{metric.name}_drop": MAX_ACCURACY_DROP,
            "min_agreement": MIN_AGREEMENT,
            **(
                {"min_int8_agreement": metric.int8_agreement}
                if metric.int8_agreement != MIN_AGREEMENT
                else {}
            ),
        },
        "torch": {metric.name: round(torch_score, 4)},
        "fp32": fp32,
        "int8": attempts,
        "chosen": chosen or (FP32_FILE if fp32["passed"] else None),
        "int8_recipe": kept["number"] if faster else None,
        "int8_slower": kept is not None and not faster,
        "cpu": cpu_info(),
        "gate_seconds": round(time.monotonic() - started, 1),
    }
    write_text(folder / REPORT_FILE, json.dumps(report, indent=2) + "\n")
    return report


def _try_int8(
    folder: Path,
    recipe: Int8Recipe,
    data: GateData,
    fp32_labels: list,
    fp32_score: float,
    predict: Predict,
    metric: GateMetric,
) -> dict:
    candidate = folder / f".candidate-{INT8_FILE}"
    try:
        recipe.apply(folder / FP32_FILE, candidate)
        _, scored = _scored(candidate, INT8_FILE, predict, data, fp32_labels, metric)
        scored["passed"] = _passes(scored, fp32_score, metric.int8_agreement, metric)
        if scored["passed"]:
            candidate.replace(folder / INT8_FILE)
    finally:
        candidate.unlink(missing_ok=True)
    return {"recipe": recipe.description, **scored}


def _passes(scored: dict, reference_score: float, agreement: float, metric: GateMetric) -> bool:
    return (
        scored["agreement"] >= agreement
        and scored[metric.name] >= reference_score - MAX_ACCURACY_DROP - 1e-9
    )
