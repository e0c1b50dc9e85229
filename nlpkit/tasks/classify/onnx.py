"""ONNX Runtime for text classification: the gate compares label ids, batch by batch as
``classify`` makes them (int8 scales activations per batch)."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlpkit.devices import use_threads
from nlpkit.inputs.readers import pick_text_column
from nlpkit.models.backends.export import Int8Recipe
from nlpkit.models.backends.gate import GateData
from nlpkit.models.load import load_model, model_config, quiet_libraries
from nlpkit.tasks.onnx_gate import export_gated, ignore_progress, write_classifier
from nlpkit.tasks.scores import CLASSIFY_BATCH, best_ids, onnx_scores, torch_scores

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe


@quiet_libraries()
def prepare_onnx(
    name: str,
    target: Path,
    data: GateData,
    int8: bool = True,
    recipes: Sequence[Int8Recipe] | None = None,
) -> dict:
    """Export classifier ``name`` to ``target`` (an ONNX folder), gate it on ``data``, and
    return the gate's report (also in ``target/report.json``). ``recipes``: the int8
    recipes to try (default: export.INT8_RECIPES)."""
    loaded = load_model("sequence", name, "cpu", "float32")
    use_threads(None)

    def reference() -> list[int]:
        return best_ids(torch_scores(loaded, data.texts, CLASSIFY_BATCH, ignore_progress))

    def predict(runner: Any) -> list[int]:
        return best_ids(onnx_scores(runner, data.texts, CLASSIFY_BATCH, ignore_progress))

    return export_gated(write_classifier(loaded), target, data, reference, predict, int8, recipes)


def builtin_gate_data(path: Path) -> GateData:
    """SST-2 dev, shipped with the built-in sentiment model (872 labelled sentences)."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    texts = [row["sentence"] for row in rows]
    return GateData(texts, [int(row["label"]) for row in rows], "SST-2 dev (shipped with nlpkit)")


def gate_data(name: str, plan: Recipe, rows: Any, source: str) -> GateData:
    """Texts and label ids from a recipe's eval rows, the ids read through model
    ``name``'s label names."""
    from nlpkit.training.data import label_encoder

    text_column = plan.data.text_column
    if text_column not in rows.column_names:
        text_column = pick_text_column(list(rows.column_names), None, Path(source))
    config = model_config(name)
    names = [str(config.id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels)]
    encode = label_encoder(names)
    texts = [str(text) for text in rows[text_column]]
    labels = [encode(value) for value in rows[plan.data.label_column]]
    return GateData(texts, labels, source)
