"""ONNX Runtime for sentence embeddings: the encoder's token vectors, int8, a gate on STS.

The export is the encoder's ``last_hidden_state`` (batch and sequence axes dynamic),
with the model's pooling files beside it, so both backends pool the same way in numpy.
The gate embeds STS Benchmark pairs: fp32 must give vectors within a mean cosine of
0.99 of PyTorch's and int8 of fp32's, and each must keep the Spearman correlation of
the pairs' cosines with the gold scores within 0.5 points.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlpkit.devices import use_threads
from nlpkit.errors import InputError
from nlpkit.models.backends import FP32_FILE
from nlpkit.models.backends.export import Int8Recipe, export_classifier
from nlpkit.models.backends.gate import GateData, GateMetric
from nlpkit.models.load import load_model, quiet_libraries
from nlpkit.tasks.embed.encoders import (
    EMBED_BATCH,
    TASK,
    Embedder,
    embed_with,
    model_pooling,
    runner_embedder,
    torch_embedder,
    unit_rows,
)
from nlpkit.tasks.onnx_gate import export_gated, ignore_progress

HIDDEN_OUTPUT = "last_hidden_state"


def vectors(embedder: Embedder, texts: list[str]) -> Any:
    """Unit vectors of ``texts`` (the gate's own pass: no progress shown)."""
    return unit_rows(embed_with(embedder, texts, EMBED_BATCH, False, ignore_progress))


def sts_spearman(predicted: Any, scores: list) -> float:
    """Spearman correlation of each pair's cosine with its gold score; ``predicted`` holds
    the first sentences' unit vectors, then the second ones'."""
    from scipy.stats import spearmanr

    half = len(predicted) // 2
    cosines = (predicted[:half] * predicted[half:]).sum(axis=1)
    return float(spearmanr(cosines, scores).statistic)


def mean_cosine(predicted: Any, reference: Any) -> float:
    return float((predicted * reference).sum(axis=1).mean())


STS_SPEARMAN = GateMetric("spearman", sts_spearman, mean_cosine)


def sts_gate_data(path: Path) -> GateData:
    """STS pairs from a tsv (gzip or not) with sentence1, sentence2 and score columns."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        first = [row["sentence1"] for row in rows]
        second = [row["sentence2"] for row in rows]
        scores = [float(row["score"]) for row in rows]
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise InputError(
            f"{path}: not STS data ({exc}); the gate needs a tsv with sentence1, "
            "sentence2 and score columns"
        ) from None
    return GateData(first + second, scores, f"{path.name} ({len(rows)} STS pairs)")


@quiet_libraries()
def prepare_onnx(
    name: str,
    target: Path,
    data: GateData,
    int8: bool = True,
    recipes: Sequence[Int8Recipe] | None = None,
) -> dict:
    """Export encoder ``name`` to ``target`` (an ONNX folder), gate it on STS ``data``,
    return the gate's report."""
    loaded = load_model(TASK.loader, name, "cpu", "float32")
    pooling = model_pooling(name)
    use_threads(None)

    def write(folder: Path) -> None:
        encoder = token_vectors(loaded.model)
        export_classifier(encoder, loaded.tokenizer, folder, FP32_FILE, (HIDDEN_OUTPUT,))
        dataclasses.replace(pooling, dimension=loaded.model.config.hidden_size).save(folder)

    def reference() -> Any:
        return vectors(torch_embedder(name, loaded, pooling), data.texts)

    def predict(runner: Any) -> Any:
        return vectors(runner_embedder(name, runner), data.texts)

    return export_gated(write, target, data, reference, predict, int8, recipes, STS_SPEARMAN)


def token_vectors(model: Any) -> Any:
    """``model`` as a module whose one output is its token vectors (traced with the
    inputs by name: the full signature's cache arguments confuse the tracer)."""
    import torch

    class TokenVectors(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.config = model.config

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            given = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, **given)
            return out.last_hidden_state

        def set_attn_implementation(self, implementation: str) -> None:
            self.model.set_attn_implementation(implementation)

    return TokenVectors()


def gate_data(name: str, plan: Any, rows: Any, source: str) -> GateData:
    """STS pairs from a recipe's eval rows: its text and pair columns (default sentence1,
    sentence2) and its label column (default score)."""
    data = plan.data
    first = data.text_column if data.text_pair_column else "sentence1"
    second = data.text_pair_column or "sentence2"
    score = data.label_column if data.label_column in rows.column_names else "score"
    missing = [c for c in (first, second, score) if c not in rows.column_names]
    if missing:
        raise InputError(
            f"{source}: no column {', '.join(missing)}; the gate needs STS pairs "
            "(sentence1, sentence2, score)"
        )
    texts = [str(t) for t in rows[first]] + [str(t) for t in rows[second]]
    return GateData(texts, [float(v) for v in rows[score]], source)


def builtin_gate_data(path: Path) -> GateData:
    """The STS pairs a built-in embedding model ships for its gate."""
    return sts_gate_data(path)
