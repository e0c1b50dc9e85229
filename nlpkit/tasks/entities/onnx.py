"""ONNX Runtime for token classification: the classifier export, int8, a gate on entity F1.

The export is the classifier's (``export_classifier``: the exporter carries the inputs'
dynamic sequence axis to the logits); the gate scores words, not texts. Sentences of
words with gold tags are joined with spaces and tagged as ``entities`` tags them
(``first``: a word takes its first sub-word's label, as training labels it), and each
word gets the tag of the entity that starts on it. fp32 must agree with PyTorch on 99%
of the words and int8 with fp32, and each must keep the entity F1 (seqeval) within
0.5 points.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlpkit.devices import use_threads
from nlpkit.errors import InputError
from nlpkit.models.backends.export import Int8Recipe
from nlpkit.models.backends.gate import GateData, GateMetric
from nlpkit.models.load import load_model, model_config, quiet_libraries
from nlpkit.tasks.entities import ENTITIES_BATCH, TASK, Tagger, onnx_tagger, torch_tagger
from nlpkit.tasks.entities.aggregate import entities_of
from nlpkit.tasks.entities.gold import word_tags
from nlpkit.tasks.entities.training import entity_scores, iob2
from nlpkit.tasks.entities.windows import run_windows, split
from nlpkit.tasks.onnx_gate import export_gated, ignore_progress, write_classifier

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe

GATE_AGGREGATION = "first"


def predicted_tags(tagger: Tagger, sentences: list[list[str]]) -> list[list[str]]:
    """Each sentence's word tags, as ``tagger`` finds its entities."""
    texts = [" ".join(words) for words in sentences]
    tokens, windows = split(tagger.tokenizer, texts, tagger.max_length)
    run_windows(tokens, windows, len(tagger.names), ENTITIES_BATCH, tagger.logits, ignore_progress)
    return [
        word_tags(text.text, entities_of(text, tagger.names, GATE_AGGREGATION, tagger.words))
        for text in tokens
    ]


def entity_f1(predicted: list[list[str]], gold: list[list[str]]) -> float:
    return float(entity_scores(predicted, gold)["f1"])


def word_agreement(predicted: list[list[str]], reference: list[list[str]]) -> float:
    same = [
        p == r for a, b in zip(predicted, reference, strict=True) for p, r in zip(a, b, strict=True)
    ]
    return sum(same) / max(1, len(same))


ENTITY_F1 = GateMetric("f1", entity_f1, word_agreement)


@quiet_libraries()
def prepare_onnx(
    name: str,
    target: Path,
    data: GateData,
    int8: bool = True,
    recipes: Sequence[Int8Recipe] | None = None,
) -> dict:
    """Export token classifier ``name`` to ``target`` (an ONNX folder), gate it on ``data``
    (``texts`` are sentences as word lists, ``labels`` their IOB2 tags), return the report."""
    loaded = load_model(TASK.loader, name, "cpu", "float32")
    use_threads(None)

    def reference() -> list[list[str]]:
        return predicted_tags(torch_tagger(name, loaded), data.texts)

    def predict(runner: Any) -> list[list[str]]:
        return predicted_tags(onnx_tagger(name, runner), data.texts)

    write = write_classifier(loaded)
    return export_gated(write, target, data, reference, predict, int8, recipes, ENTITY_F1)


def builtin_gate_data(path: Path) -> GateData:
    """CoNLL-2003 validation, shipped with the built-in entities model (JSON lines of
    ``tokens`` and IOB2 ``ner_tags``)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return GateData(
        [row["tokens"] for row in rows],
        [row["ner_tags"] for row in rows],
        "CoNLL-2003 validation (shipped with nlpkit)",
    )


def gate_data(name: str, plan: Recipe, rows: Any, source: str) -> GateData:
    """Sentences (word lists) and their IOB2 tags from a recipe's eval rows; tag ids are
    read through model ``name``'s label names."""
    from nlpkit.training.data import check_columns

    data = plan.data
    check_columns(
        rows, "eval", {"tokens_column": data.tokens_column, "tags_column": data.tags_column}
    )
    config = model_config(name)
    names = [str(config.id2label[i]) for i in range(config.num_labels)]
    sentences, tags = [], []
    for number, (words, given) in enumerate(
        zip(rows[data.tokens_column], rows[data.tags_column], strict=True), 1
    ):
        if not words or len(words) != len(given or ()):
            raise InputError(f"data: eval sentence {number} needs words and one tag per word")
        sentences.append([str(word) for word in words])
        tags.append(iob2([names[t] if isinstance(t, int) else str(t) for t in given])[0])
    return GateData(sentences, tags, source)
