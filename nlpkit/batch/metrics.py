"""A job's scores against a gold column, computed from the finished output (whatever the
engine, however many resumes) by the task's own offline metrics: accuracy/F1 for labels,
ROUGE for summaries, BLEU/chrF for translations, entity F1 for tags."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from nlpkit.batch.writers import CARRIED_PREFIX
from nlpkit.errors import UsageError
from nlpkit.inputs.stream import column_values
from nlpkit.tasks.pieces import TaskPieces, pieces_of


def _scored(command: str) -> TaskPieces | None:
    pieces = pieces_of(command)
    return pieces if pieces.gold_fields else None


def check_scorable(command: str, gold_column: str | None) -> None:
    if gold_column is not None and _scored(command) is None:
        raise UsageError(f"{command} has no metrics to compute against a gold column")


def carried_name(command: str, column: str) -> str:
    """The name the gold column gets in output rows (``input_label`` beside ``label``)."""
    taken = {field.name for field in fields(pieces_of(command).result)}
    while column in taken:
        column = CARRIED_PREFIX + column
    return column


def job_metrics(
    command: str, output: Path, gold_column: str, label_names: Callable[[], list[str]]
) -> dict[str, Any]:
    """Scores of the output's predictions against its carried gold column."""
    pieces = pieces_of(command)
    gold = carried_name(command, gold_column)
    rows = [
        row
        for row in column_values(output, [*pieces.gold_fields, gold])
        if row[gold] not in (None, "", [])
    ]
    references = [row.pop(gold) for row in rows]
    scores = pieces.gold_scores(rows, references, label_names)
    return {"task": command, pieces.gold_option: gold_column, "rows": len(rows), **scores}
