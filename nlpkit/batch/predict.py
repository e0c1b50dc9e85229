"""One shard's work, the same on every engine: its rows in, output rows and errors out.

A shard is ``shard_rows`` consecutive input rows (the last one may be shorter).
Every engine (this process, a pool of processes, Ray actors) turns a shard's
rows into the same output rows, so their outputs match row for row.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from nlpkit.batch.rows import InputRow, RowSource
from nlpkit.batch.writers import carry, to_rows
from nlpkit.inputs.stream import CHUNK_SIZE, chunked
from nlpkit.tasks.table import BY_COMMAND


@dataclass(frozen=True)
class Predictor:
    """A task function with its options, picklable (processes, Ray actors): texts -> rows.
    The model loads on the first call and stays cached in the process."""

    command: str
    options: dict[str, Any] = field(default_factory=dict)
    policy: tuple[bool, bool] = (False, False)  # trust_remote_code, allow_pickle

    def __call__(
        self,
        texts: list[str],
        progress: Callable[[int], None],
        extras: list[dict[str, Any]] | None = None,
    ) -> list[dict]:
        """Rows for ``texts``; ``extras``: each row's other columns (a task may read them)."""
        from nlpkit.models.safety import load_policy
        from nlpkit.tasks.pieces import pieces_of

        entry = BY_COMMAND[self.command]
        pieces = pieces_of(entry)
        module = importlib.import_module(f"nlpkit.tasks.{entry.module}")
        task = getattr(module, pieces.row_function or self.command)
        inputs = pieces.job_inputs(texts, extras)
        with load_policy(*self.policy):
            return to_rows(task(inputs, progress=progress, **self.options))

    def with_options(self, **options: Any) -> Predictor:
        return Predictor(self.command, {**self.options, **options}, self.policy)


@dataclass
class ShardInput:
    index: int
    rows: list[InputRow]


@dataclass
class ShardOutput:
    """A done shard: ``rows`` in input order, ``errors`` one entry per unreadable row."""

    index: int
    rows: list[dict[str, Any]]
    errors: list[dict[str, Any]]


def shard_inputs(
    source: RowSource, pending: Iterable[int], shard_rows: int
) -> Iterator[ShardInput]:
    """The pending shards' rows, read in one pass over the input (done shards are skipped)."""
    wanted = set(pending)
    if not wanted:
        return
    last = max(wanted)
    read = source.rows(start=min(wanted) * shard_rows)  # done shards before it: skipped
    for index, rows in groupby(read, key=lambda row: row.row // shard_rows):
        if index in wanted:
            yield ShardInput(index, list(rows))
        if index >= last:
            return


def predict_rows(
    predict: Predictor, rows: list[InputRow], progress: Callable[[int], None]
) -> tuple[list[dict], list[dict]]:
    """(output rows, error entries) for ``rows``; readable rows go to the model in chunks."""
    good = [row for row in rows if row.error is None]
    output: list[dict] = []
    for chunk in chunked(good, CHUNK_SIZE):
        texts = [row.text for row in chunk]
        results = predict(texts, progress, [row.extra for row in chunk])  # type: ignore[arg-type]
        output += [carry(r, row.extra) for r, row in zip(results, chunk, strict=True)]
    errors = [error_entry(row) for row in rows if row.error is not None]
    progress(len(errors))
    return output, errors


def predict_shard(
    predict: Predictor, shard: ShardInput, progress: Callable[[int], None]
) -> ShardOutput:
    return ShardOutput(shard.index, *predict_rows(predict, shard.rows, progress))


def error_entry(row: InputRow) -> dict[str, Any]:
    """An errors-file line: the row's position, where it is, what is wrong, its columns."""
    return {"row": row.row, "where": row.where, "error": row.error, **row.extra}
