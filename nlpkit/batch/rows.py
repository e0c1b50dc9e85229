"""A job's input rows one by one, each with its text or the reason it has none.

A batch job must not stop at row 900,000 for one empty text: a row that cannot
be read (empty or null text, a list where text belongs, a broken JSON line, a csv
row with the wrong number of fields) comes with ``error`` set, and the job writes
it to its errors file. Problems with the file as a whole (missing, no such column,
not parquet, bad UTF-8) still raise InputError before any model work.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from nlpkit.errors import InputError
from nlpkit.inputs.readers import cell_text, pick_text_column, starts_with, utf8_lines
from nlpkit.inputs.stream import delimited_rows, json_items

PARQUET_BATCH_ROWS = 4096
JOB_SUFFIXES = (".parquet", ".csv", ".tsv", ".jsonl", ".json", ".txt")


@dataclass
class InputRow:
    """One data row: ``row`` counts from 0 in input order, ``where`` names it for people."""

    row: int
    where: str
    text: str | None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RowSource:
    """The rows of one input file. ``carried``: the columns each row brings along
    (None: every column but the text)."""

    path: Path
    text_column: str | None = None
    carried: tuple[str, ...] | None = None

    def columns(self) -> list[str]:
        """The file's columns: a header, a parquet schema, the first JSON object's keys."""
        path, suffix = self.path, self.path.suffix.lower()
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        if suffix not in JOB_SUFFIXES:
            raise InputError(f"{path}: a batch job reads {', '.join(JOB_SUFFIXES)} files")
        if suffix == ".parquet":
            return list(_parquet_file(path).schema_arrow.names)
        if suffix in (".csv", ".tsv"):
            return next(delimited_rows(path), [])
        if suffix in (".json", ".jsonl"):
            for item in self._json_records():
                if isinstance(item, dict | str):
                    return list(item) if isinstance(item, dict) else []
        return []

    def text_name(self, columns: list[str]) -> str | None:
        return pick_text_column(columns, self.text_column, self.path) if columns else None

    def carried_names(self, columns: list[str]) -> list[str]:
        text = self.text_name(columns)
        names = [n for n in columns if n != text] if self.carried is None else self.carried
        missing = [name for name in names if name not in columns]
        if missing:
            quoted = ", ".join(map(repr, columns))
            raise InputError(f"{self.path}: no column '{missing[0]}'; columns are {quoted}")
        return list(names)

    def count(self) -> int:
        """How many data rows the file holds (parquet: from its footer)."""
        suffix = self.path.suffix.lower()
        if suffix == ".parquet":
            return _parquet_file(self.path).metadata.num_rows
        if suffix == ".jsonl" or (suffix == ".json" and not starts_with(self.path, b"[")):
            return sum(1 for _, line in _lines(self.path) if line.strip())  # no JSON parsing
        return sum(1 for _ in self._records(0))

    def rows(self, start: int = 0) -> Iterator[InputRow]:
        """The data rows from row ``start`` (0-based) on, in input order, read lazily;
        parquet row groups and json lines before ``start`` are skipped unparsed."""
        columns = self.columns()
        text = self.text_name(columns)
        names = self.carried_names(columns)
        for index, record in enumerate(self._records(start), start=start):
            yield _row(index, f"{self.path} row {index + 1}", record, text, names)

    def _records(self, start: int) -> Iterator[Any]:
        """From row ``start`` on: a dict of columns, a str (a text line), or a _Bad."""
        suffix = self.path.suffix.lower()
        if suffix == ".parquet":
            return _parquet_records(self.path, start)
        if suffix in (".json", ".jsonl"):
            return self._json_records(start)
        if suffix in (".csv", ".tsv"):
            records = _delimited_records(self.path)
        else:
            records = (line.rstrip("\r\n") for _, line in _lines(self.path))
        return islice(records, start, None)

    def _json_records(self, start: int = 0) -> Iterator[Any]:
        if self.path.suffix.lower() == ".json" and starts_with(self.path, b"["):
            try:
                yield from islice(json_items(self.path), start, None)
            except json.JSONDecodeError as exc:
                raise InputError(f"{self.path}: invalid JSON ({exc.msg})") from None
            return
        number = 0
        for _, line in _lines(self.path):
            if not line.strip():
                continue  # a blank line between JSON lines is not a row
            number += 1
            if number <= start:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                yield _Bad(f"invalid JSON ({exc.msg})")


@dataclass(frozen=True)
class _Bad:
    message: str


def _row(index: int, where: str, record: Any, text: str | None, names: list[str]) -> InputRow:
    if isinstance(record, _Bad):
        return InputRow(index, where, None, record.message)
    if isinstance(record, str):
        return _checked(InputRow(index, where, None), record, "text")
    if not isinstance(record, dict):
        return InputRow(index, where, None, f"expected an object or a string, got {record!r}")
    extra = {name: record.get(name) for name in names}
    if text not in record:
        return InputRow(index, where, None, f"no column '{text}'", extra)
    return _checked(InputRow(index, where, None, extra=extra), record[text], str(text))


def _checked(row: InputRow, value: Any, column: str) -> InputRow:
    try:
        row.text = cell_text(value, row.where, column)
    except InputError as exc:
        row.error = str(exc).removeprefix(f"{row.where}: ")
        return row
    if not row.text.strip():
        row.text, row.error = None, "empty text"
    return row


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    return enumerate(utf8_lines(path), start=1)


def _parquet_file(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise InputError(f"{path}: not a readable parquet file ({exc})") from None


def _parquet_records(path: Path, start: int = 0) -> Iterator[dict[str, Any]]:
    """Rows from ``start`` on; whole row groups before it are not read."""
    part = _parquet_file(path)
    skipped, groups = 0, []
    for group in range(part.num_row_groups):
        size = part.metadata.row_group(group).num_rows
        if not groups and skipped + size <= start:
            skipped += size
        else:
            groups.append(group)
    batches = part.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=groups)
    records = (record for batch in batches for record in batch.to_pylist())
    return islice(records, start - skipped, None)


def _delimited_records(path: Path) -> Iterator[Any]:
    rows = delimited_rows(path)
    header = next(rows, [])
    for row in rows:
        if len(row) != len(header):
            yield _Bad(f"{len(row)} fields, header has {len(header)}")
        else:
            yield dict(zip(header, row, strict=True))
