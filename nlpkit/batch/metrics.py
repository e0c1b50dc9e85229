"""A job's scores against a gold column: accuracy/F1 for classify, ROUGE or BLEU/chrF
for summarize and translate, computed from the finished output (whatever the engine,
however many resumes) with nlpkit's offline metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from nlpkit.batch.writers import CARRIED_PREFIX
from nlpkit.errors import UsageError
from nlpkit.inputs.stream import column_values
from nlpkit.results import Classification, Summary, Translation

# command -> (its result type, the field scored against the gold column, the option name)
SCORED = {
    "classify": (Classification, "label", "label_column"),
    "summarize": (Summary, "summary", "reference_column"),
    "translate": (Translation, "translation", "reference_column"),
}


def check_scorable(command: str, gold_column: str | None) -> None:
    if gold_column is not None and command not in SCORED:
        raise UsageError(f"{command} has no metrics to compute against a gold column")


def carried_name(command: str, column: str) -> str:
    """The name the gold column gets in output rows (``input_label`` beside ``label``)."""
    taken = {f.name for f in fields(SCORED[command][0])}
    while column in taken:
        column = CARRIED_PREFIX + column
    return column


def job_metrics(
    command: str, output: Path, gold_column: str, label_names: Callable[[], list[str]]
) -> dict[str, Any]:
    """Scores of the output's predictions against its carried gold column."""
    from nlpkit.training import metrics

    kind, predicted, option = SCORED[command]
    gold = carried_name(command, gold_column)
    pairs = [
        (str(row[predicted]), str(row[gold]))
        for row in column_values(output, [predicted, gold])
        if row[gold] not in (None, "")
    ]
    predictions = [p for p, _ in pairs]
    references = [g for _, g in pairs]
    if command == "classify":
        references = _named(references, set(predictions), label_names)
        scores = metrics.classification_metrics(predictions, references)  # type: ignore[arg-type]
    elif command == "summarize":
        scores = metrics.rouge(predictions, references)
    else:
        scores = metrics.bleu_chrf(predictions, references)
    return {"task": command, option: gold_column, "rows": len(pairs), **scores}


def _named(golds: list[str], predicted: set[str], label_names: Callable[[], list[str]]):
    """Gold labels as label names: ids (0, 1) become the model's names for them."""
    if not golds or set(golds) <= predicted or not all(g.isdigit() for g in golds):
        return golds
    names = label_names()
    return [names[int(g)] if int(g) < len(names) else g for g in golds]
