"""Output rows and their writers: jsonl, csv, json and parquet, appended batch by batch.

The library writes files (a batch job's shards) and the CLI writes stdout and
``--output`` with the same writers, so every output shares one serializer.
``fmt`` is a format name (``"jsonl"``, ``"csv"``, ``"json"``, ``"parquet"``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, is_dataclass
from typing import IO, Any

from nlpkit.errors import OutputError, first_line


def to_rows(results: Sequence[Any]) -> list[dict[str, Any]]:
    """Plain dicts from result dataclasses (or dicts)."""
    return [asdict(r) if is_dataclass(r) else dict(r) for r in results]


class RowWriter:
    """jsonl / csv / json rows appended batch by batch to an open text handle."""

    def __init__(self, handle: IO[str], fmt: str) -> None:
        self.handle, self.fmt = handle, fmt
        self.rows = 0
        self.closed = False
        self._csv: csv.DictWriter | None = None

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if self.fmt == "csv":
            if self._csv is None and rows:
                self._csv = csv.DictWriter(self.handle, fieldnames=list(rows[0]))
                self._csv.writeheader()
            for row in rows:
                self._csv.writerow({k: flat(v) for k, v in row.items()})  # type: ignore[union-attr]
        elif self.fmt == "json":
            for row in rows:
                item = json.dumps(row, ensure_ascii=False, indent=2, default=plain)
                self.handle.write(
                    ("[\n  " if self.rows == 0 else ",\n  ") + item.replace("\n", "\n  ")
                )
                self.rows += 1
            self.handle.flush()
            return
        else:
            self.handle.writelines(
                json.dumps(row, ensure_ascii=False, default=plain) + "\n" for row in rows
            )
        self.rows += len(rows)
        self.handle.flush()

    def close(self) -> None:
        """Finish the file (a json array is closed); once only."""
        if self.closed:
            return
        self.closed = True
        if self.fmt == "json":
            self.handle.write("\n]\n" if self.rows else "[]\n")
        self.handle.flush()


class ParquetRows:
    """Rows as parquet, one row group per write; closing writes the footer, so the
    rows written before a Ctrl-C still make a valid file. Nested values keep arrow
    types (``top`` is list<struct<label: string, score: double>>). Rows whose lists are
    all empty so far (no entities yet) wait until a row shows what the lists hold."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.rows = 0
        self.closed = False
        self._writer = None
        self._schema = None
        self._waiting: list[Any] = []

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        import pyarrow as pa

        try:
            table = pa.Table.from_pylist(list(rows), schema=self._schema)
            if self._schema is None:
                table = table.cast(vector_schema(table.schema, rows[0]))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise OutputError(
                f"cannot write these rows as parquet ({first_line(exc)}): each column needs "
                "one type in every row; write jsonl instead"
            ) from None
        self.rows += len(rows)
        if self._writer is not None:
            self._writer.write_table(table)
            return
        self._waiting.append(table)
        if not any(_holds_null(f.type) for f in joined_schema(t.schema for t in self._waiting)):
            self._start()

    def _start(self) -> None:
        """Open the file with the waiting rows' common schema and write them."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        # A column that is all null so far (input ids after arguments) holds text later.
        self._schema = pa.schema(
            f.with_type(pa.string()) if pa.types.is_null(f.type) else f
            for f in joined_schema(t.schema for t in self._waiting)
        )
        self._writer = pq.ParquetWriter(self.handle, self._schema)
        for table in self._waiting:
            self._writer.write_table(table.cast(self._schema))
        self._waiting = []

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._waiting:
            self._start()
        if self._writer is not None:
            self._writer.close()
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({}), self.handle)  # no rows: still a readable file


def joined_schema(schemas: Iterable[Any]) -> Any:
    """One schema for tables that differ only where some hold empty lists (list<null>)."""
    import pyarrow as pa

    return pa.unify_schemas(list(schemas), promote_options="permissive")


def _holds_null(kind: Any) -> bool:
    """A list (or a struct) whose items' type is not known yet: every list was empty."""
    import pyarrow as pa

    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pa.types.is_null(kind.value_type) or _holds_null(kind.value_type)
    if pa.types.is_struct(kind):
        return any(_holds_null(kind.field(i).type) for i in range(kind.num_fields))
    return False


def vector_schema(schema: Any, row: dict[str, Any]) -> Any:
    """``schema`` with a fixed-size list of the vector's dtype for each column whose value
    is a numpy vector (embeddings): every row has the same dimension."""
    import pyarrow as pa

    for name, value in row.items():
        if getattr(value, "ndim", 0) == 1:
            kind = pa.list_(pa.from_numpy_dtype(value.dtype), len(value))
            schema = schema.set(schema.get_field_index(name), pa.field(name, kind))
    return schema


def plain(value: Any) -> Any:
    """A value json cannot write: a numpy array as a list, anything else as text."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def row_writer(handle: IO, fmt: str) -> RowWriter | ParquetRows:
    return ParquetRows(handle) if fmt == "parquet" else RowWriter(handle, fmt)


def flat(value: Any) -> str:
    """One cell: lists of label/score pairs read as 'positive 0.99, negative 0.01'."""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list) and all(isinstance(v, dict) and "label" in v for v in value):
        return ", ".join(f"{v['label']} {v['score']:.4f}" for v in value)
    if isinstance(value, list | dict) or hasattr(value, "tolist"):
        return json.dumps(value, ensure_ascii=False, default=plain)
    return "" if value is None else str(value)


CARRIED_PREFIX = "input_"


def carry(row: dict[str, Any], columns: dict[str, Any]) -> dict[str, Any]:
    """``row`` followed by the input's other columns; a name the row uses gets a prefix."""
    for name, value in columns.items():
        key = name
        while key in row:
            key = CARRIED_PREFIX + key
        row[key] = value
    return row
