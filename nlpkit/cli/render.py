"""Render results as a rich table, json, jsonl or csv: one place for all commands."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from nlpkit.cli.options import OutputFormat
from nlpkit.errors import OutputError


def to_rows(results: Sequence[Any]) -> list[dict[str, Any]]:
    """Plain dicts from result dataclasses (or dicts)."""
    return [asdict(r) if is_dataclass(r) else dict(r) for r in results]


def emit(
    results: Sequence[Any],
    fmt: OutputFormat,
    output: Path | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> None:
    """Write results to ``output`` (atomically) or print them to stdout."""
    rows = to_rows(results)
    if output is None:
        if fmt == OutputFormat.table:
            print_table(rows, title)
        else:
            print(format_rows(rows, fmt), end="")
        return
    text = format_rows(rows, OutputFormat.jsonl if fmt == OutputFormat.table else fmt)
    write_atomic(output, text, overwrite)


def format_rows(rows: list[dict[str, Any]], fmt: OutputFormat) -> str:
    if fmt == OutputFormat.json:
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    if fmt == OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows({k: _flat(v) for k, v in row.items()} for row in rows)
        return buffer.getvalue()
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def print_table(rows: list[dict[str, Any]], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for column in rows[0] if rows else []:
        table.add_column(column, overflow="fold", justify="right" if column == "score" else "left")
    for row in rows:
        table.add_row(*(_flat(value) for value in row.values()))
    Console().print(table)


def print_mapping(data: dict[str, Any], fmt: OutputFormat, title: str) -> None:
    """A key/value report (env, metrics) as a two-column table or json."""
    if fmt != OutputFormat.table:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        table.add_row(key, _flat(value))
    Console().print(table)


def _flat(value: Any) -> str:
    """One cell: lists of label/score pairs read as 'positive 0.99, negative 0.01'."""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list) and all(isinstance(v, dict) and "label" in v for v in value):
        return ", ".join(f"{v['label']} {v['score']:.4f}" for v in value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def open_temp(path: Path, overwrite: bool = False) -> tuple[int, str]:
    """A temp file beside ``path`` (renamed onto it when done), after checking ``path``."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a directory, expected a file path")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: already exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: cannot write there (no such folder {path.parent})")
    try:
        return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write there ({exc.strerror})") from None


def write_atomic(path: Path, text: str, overwrite: bool = False) -> None:
    """Write through a temp file in the same folder, then rename: never half-written."""
    fd, tmp = open_temp(path, overwrite)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
