"""Reading texts to process: arguments, stdin, and txt/csv/tsv/jsonl/parquet files.

Every reader returns plain strings in input order; problems are InputErrors
that name the file, the line or row, and the fix.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from nlpkit.errors import InputError

TABLE_SUFFIXES = {".csv", ".tsv", ".jsonl", ".json", ".parquet"}
TEXT_COLUMN_GUESSES = ("text", "sentence", "document", "prompt", "source", "content")


def collect_texts(
    texts: Iterable[str] = (),
    input_file: Path | None = None,
    text_column: str | None = None,
    skip_empty: bool = False,
    stdin: Iterable[str] | None = None,
) -> list[str]:
    """Gather texts from arguments (``-`` means stdin, one text per line) and a file."""
    records: list[tuple[str, str]] = []
    for position, text in enumerate(texts, start=1):
        if text == "-":
            lines = stdin if stdin is not None else sys.stdin
            records.extend(_numbered_lines(lines, "stdin"))
        else:
            records.append((f"argument {position}", text))
    if input_file is not None:
        records.extend(read_records(Path(input_file), text_column))
    if not records:
        raise InputError("no input text: pass texts as arguments, '-' for stdin, or --input FILE")
    return _drop_or_reject_empty(records, skip_empty)


def read_records(path: Path, text_column: str | None = None) -> list[tuple[str, str]]:
    """(where, text) pairs from one file; the format follows the file suffix."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a file")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _parquet_records(path, text_column)
    content = _read_utf8(path)
    if suffix in (".csv", ".tsv"):
        return _delimited_records(path, content, text_column)
    if suffix in (".jsonl", ".json"):
        return _jsonl_records(path, content, text_column)
    return list(_numbered_lines(content.splitlines(), str(path)))


def read_document(path: Path) -> str:
    """A whole text file as one document (for `nlpkit summarize FILE`)."""
    return _read_utf8(path)


def _read_utf8(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}: line {line} is not valid UTF-8 (byte {exc.start}); "
            "convert the file to UTF-8, e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _numbered_lines(lines: Iterable[str], source: str) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(lines, start=1):
        yield f"{source} line {number}", line.rstrip("\r\n")


def _delimited_records(path: Path, content: str, column: str | None) -> list[tuple[str, str]]:
    if path.suffix.lower() == ".tsv":
        # TSV fields may contain '"' (SST-2 does): read them literally.
        reader = csv.reader(content.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(content, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV ({exc}); check quoting") from None
    if not rows:
        raise InputError(f"{path}: empty file, expected a header row and data rows")
    header, body = rows[0], rows[1:]
    name = pick_text_column(header, column, path)
    index = header.index(name)
    records = []
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InputError(
                f"{path} line {number}: {len(row)} fields, header has {len(header)}; "
                "fix the row (quote fields that contain the delimiter)"
            )
        records.append((f"{path} line {number}", row[index]))
    if not records:
        raise InputError(f"{path}: header only, no data rows")
    return records


def _jsonl_records(path: Path, content: str, column: str | None) -> list[tuple[str, str]]:
    records = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} line {number}: invalid JSON ({exc.msg})") from None
        where = f"{path} line {number}"
        if isinstance(item, str):
            records.append((where, item))
            continue
        if not isinstance(item, dict):
            raise InputError(f"{where}: expected an object or a string, got {type(item).__name__}")
        name = pick_text_column(list(item), column, path)
        records.append((where, _cell_text(item[name], where, name)))
    if not records:
        raise InputError(f"{path}: empty file, expected one JSON object per line")
    return records


def _parquet_records(path: Path, column: str | None) -> list[tuple[str, str]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise InputError(f"{path}: not a readable parquet file ({exc})") from None
    name = pick_text_column(table.column_names, column, path)
    values = table.column(name).to_pylist()
    if not values:
        raise InputError(f"{path}: no rows")
    return [
        (f"{path} row {i}", _cell_text(v, f"{path} row {i}", name))
        for i, v in enumerate(values, start=1)
    ]


def _cell_text(value: object, where: str, column: str) -> str:
    if value is None:
        raise InputError(f"{where}: column '{column}' is null; fill or drop the row")
    return value if isinstance(value, str) else str(value)


def pick_text_column(columns: list[str], wanted: str | None, path: Path) -> str:
    """The column holding the text: the one asked for, or an obvious default."""
    if wanted is not None:
        if wanted not in columns:
            raise InputError(
                f"{path}: no column '{wanted}'; columns are {', '.join(map(repr, columns))}"
            )
        return wanted
    for guess in TEXT_COLUMN_GUESSES:
        if guess in columns:
            return guess
    if len(columns) == 1:
        return columns[0]
    raise InputError(
        f"{path}: cannot tell which column holds the text; pass --text-column "
        f"(one of {', '.join(map(repr, columns))})"
    )


def _drop_or_reject_empty(records: list[tuple[str, str]], skip_empty: bool) -> list[str]:
    empty = [where for where, text in records if not text.strip()]
    if empty and not skip_empty:
        more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
        raise InputError(
            f"{empty[0]}: empty text{more}; remove it or pass --skip-empty to drop empty texts"
        )
    kept = [text for _, text in records if text.strip()]
    if not kept:
        raise InputError(f"no input text left after dropping {len(empty)} empty texts")
    return kept
