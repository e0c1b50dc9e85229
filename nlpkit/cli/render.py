"""Render results as a rich table, json, jsonl, csv or parquet: one place for all commands.

A file's format comes from --format, else from its extension (``output_format``).
``out`` is where the CLI writes: results on stdout, notes, warnings, errors and
progress on stderr, so a pipe or a file gets the results only.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nlpkit.atomic import atomic_write, temp_beside
from nlpkit.batch.writers import (
    CARRIED_PREFIX,
    ParquetRows,
    RowWriter,
    flat,
    row_writer,
    to_rows,
)
from nlpkit.cli.options import OutputFormat
from nlpkit.errors import OutputError, UsageError


class Output:
    """The CLI's one writer. The streams are looked up on each call (tests swap them)."""

    def result(self, text: str = "", end: str = "\n", flush: bool = False) -> None:
        """A result on stdout."""
        print(text, end=end, flush=flush)

    def table(self, renderable: Any) -> None:
        """A rich table (or other renderable) on stdout."""
        self.console().print(renderable)

    def note(self, text: str) -> None:
        """A message for the person at the terminal, on stderr."""
        print(text, file=sys.stderr, flush=True)

    def warn(self, text: str) -> None:
        self.note(f"warning: {text}")

    def error(self, text: str) -> None:
        self.note(f"error: {text}")

    def console(self, stderr: bool = False) -> Any:
        """A rich Console on stdout, or on stderr for live progress."""
        from rich.console import Console

        return Console(stderr=stderr)


out = Output()

SUFFIX_FORMATS = {
    ".jsonl": OutputFormat.jsonl,
    ".ndjson": OutputFormat.jsonl,
    ".json": OutputFormat.json,
    ".csv": OutputFormat.csv,
    ".parquet": OutputFormat.parquet,
}


def emit(
    results: Sequence[Any],
    fmt: OutputFormat,
    output: Path | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> None:
    """Write results to ``output`` (atomically) or print them to stdout."""
    rows = to_rows(results)
    if output is not None:
        check_output(output, overwrite)
    fmt = output_format(fmt, output)
    if output is None:
        with stdout_reader_may_leave():
            if fmt == OutputFormat.table:
                print_table(rows, title)
            else:
                out.result(format_rows(rows, fmt), end="")
        return
    with open_output(output, fmt, overwrite) as writer:
        writer.write(rows)


def output_format(fmt: OutputFormat, output: Path | None) -> OutputFormat:
    """The format to write: ``fmt``, or with ``output`` and the default (table), the one
    its extension names. An unknown extension is an error rather than a guess."""
    if output is None:
        if fmt == OutputFormat.parquet:
            raise UsageError("--format parquet writes a file: pass --output FILE.parquet")
        return fmt
    implied = SUFFIX_FORMATS.get(Path(output).suffix.lower())
    if fmt != OutputFormat.table:
        if implied is not None and implied != fmt:
            out.warn(f"writing {fmt} to {output} as --format says, not {implied}")
        return fmt
    if implied is None:
        known = ", ".join(SUFFIX_FORMATS)
        raise UsageError(
            f"{output}: cannot tell the output format from its extension; name the file "
            f"{known}, or pass --format jsonl|json|csv|parquet"
        )
    return implied


@contextmanager
def stdout_reader_may_leave() -> Iterator[None]:
    """Printing into a pipe whose reader left early (`| head -1`) ends quietly, exit 0."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        import typer

        # As the Python docs advise: later flushes (at exit too) go to devnull, not EPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None


def format_rows(rows: list[dict[str, Any]], fmt: OutputFormat) -> str:
    """All rows as one json, jsonl or csv text, written as RowWriter writes them to files."""
    buffer = io.StringIO()
    writer = RowWriter(buffer, fmt)
    writer.write(rows)
    writer.close()
    return buffer.getvalue()


@contextmanager
def open_output(
    path: Path,
    fmt: OutputFormat,
    overwrite: bool = False,
    keep_on: tuple[type[BaseException], ...] = (),
) -> Iterator[RowWriter | ParquetRows]:
    """A writer on a temp file beside ``path``, renamed onto it at the end (``keep_on``
    exceptions keep what was written, see atomic.atomic_write)."""
    temp = open_temp(path, overwrite)
    mode = "wb" if fmt == OutputFormat.parquet else "w"
    with atomic_write(path, mode, keep_on, temp) as handle:
        writer = row_writer(handle, fmt)
        try:
            yield writer
        finally:
            writer.close()


def print_table(rows: list[dict[str, Any]], title: str | None = None) -> None:
    from rich.table import Table

    rows = one_line_per_record(rows)
    table = Table(title=title, show_lines=False)
    for column in rows[0] if rows else []:
        table.add_column(column, overflow="fold", justify="right" if column == "score" else "left")
    for row in rows:
        table.add_row(*(flat(value) for value in row.values()))
    out.table(table)


def one_line_per_record(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows whose column holds a list of records (entities) as one line per record, its
    fields as columns; the row's other columns fill its first line only, and take the
    ``input_`` prefix where a record field has their name."""
    column = next((name for name in (rows[0] if rows else {}) if _records(rows, name)), None)
    if column is None:
        return rows
    fields = list(dict.fromkeys(key for row in rows for item in row[column] for key in item))
    lines = []
    for row in rows:
        own = {
            CARRIED_PREFIX + key if key in fields else key: value
            for key, value in row.items()
            if key != column
        }
        blank = dict.fromkeys(own, "")
        for index, item in enumerate(row[column] or [{}]):
            lines.append({**(blank if index else own), **{key: item.get(key) for key in fields}})
    return lines


def _records(rows: list[dict[str, Any]], name: str) -> bool:
    """Whether column ``name`` holds lists of records (not label/score pairs) in every row."""
    values = [row.get(name) for row in rows]
    if not all(isinstance(value, list) for value in values):
        return False
    items = [item for value in values for item in value]
    return bool(items) and all(isinstance(i, dict) and "label" not in i for i in items)


def print_mapping(data: dict[str, Any], fmt: OutputFormat, title: str) -> None:
    """A key/value report (env, metrics) as a two-column table or json."""
    if fmt != OutputFormat.table:
        out.result(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        return
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        table.add_row(key, flat(value))
    out.table(table)


def open_temp(path: Path, overwrite: bool = False) -> tuple[int, Path]:
    """A temp file beside ``path`` (renamed onto it when done), after checking ``path``."""
    path = Path(path)
    check_output(path, overwrite)
    try:
        return temp_beside(path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write there ({exc.strerror})") from None


def check_output(path: Path, overwrite: bool = False) -> None:
    """Fail before any work when ``path`` cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a directory, expected a file path")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: already exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: cannot write there (no such folder {path.parent})")


def write_atomic(path: Path, text: str, overwrite: bool = False) -> None:
    """Write through a temp file in the same folder, then rename: never half-written."""
    temp = open_temp(path, overwrite)
    with atomic_write(path, temp=temp) as handle:
        handle.write(text)
