"""Reading texts to process: arguments, stdin, and txt/csv/tsv/jsonl/parquet files.

Every reader returns plain strings in input order; problems are InputErrors
that name the file, the line or row, and the fix.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from nlpkit.errors import InputError, first_line

TABLE_SUFFIXES = {".csv", ".tsv", ".jsonl", ".json", ".parquet"}
PARQUET_BATCH_ROWS = 4096
TEXT_COLUMN_GUESSES = ("text", "sentence", "document", "prompt", "source", "content")
R = TypeVar("R", bound=tuple)


def collect_texts(
    texts: Iterable[str] = (),
    input_file: Path | None = None,
    text_column: str | None = None,
    skip_empty: bool = False,
    stdin: Iterable[str] | None = None,
) -> list[str]:
    """Gather texts from arguments (``-`` means stdin, one text per line) and a file."""
    records = iter_records(texts, input_file, text_column, stdin)
    return [text for _, text in drop_empty(records, skip_empty, read_all=True)]


def text_list(texts: str | Iterable[str], field: str = "texts") -> list[str]:
    """A task function's texts as a list (one string is one text). An empty or blank text
    is an InputError naming its index, as the CLI and the server refuse one: a model would
    label or summarize nothing with confidence."""
    items = [texts] if isinstance(texts, str) else list(texts)
    for index, text in enumerate(items):
        if isinstance(text, str) and not text.strip():
            raise InputError(
                f"{field}[{index}] is empty; every text needs words (drop the empty ones)",
                param=field,
            )
    return items


def drop_empty(records: Iterable[R], skip_empty: bool, read_all: bool = False) -> Iterator[R]:
    """The records whose text (``record[1]``) is not blank: the one empty-text policy.

    An empty text is an InputError naming where it is, unless ``skip_empty`` drops it;
    with ``read_all`` the error comes after the last record and counts the other empty
    ones (nothing more is yielded once it is certain). No text at all is an InputError.
    """
    kept = empty = 0
    first_empty = None
    for record in records:
        if record[1].strip():
            kept += 1
            if first_empty is None or skip_empty:
                yield record
            continue
        empty += 1
        first_empty = first_empty or record[0]
        if not (skip_empty or read_all):
            break
    if empty and not skip_empty:
        more = f" (and {empty - 1} more)" if empty > 1 else ""
        raise InputError(
            f"{first_empty}: empty text{more}; remove it or pass --skip-empty to drop empty texts"
        )
    if not kept:
        if empty:
            raise InputError(f"no input text left after dropping {empty} empty texts")
        raise InputError("no input text: pass texts as arguments, '-' for stdin, or --input FILE")


# What a file argument ends in: a word like `article.txt` names a file, it is not a text.
PATH_SUFFIXES = {".txt", ".md", ".rst", ".html", ".xml", ".pdf", ".docx", *TABLE_SUFFIXES}


def looks_like_path(text: str) -> bool:
    """One word ending in a file suffix (``article.txt``) or starting as a path does
    (``./notes``, ``~/a``, ``/tmp/a``); ``and/or`` or a URL does not."""
    if not text or "://" in text or any(char.isspace() for char in text):
        return False
    prefixed = text.startswith(("./", "../", "~/")) or (text[0] == "/" and "/" in text[1:])
    return prefixed or Path(text).suffix.lower() in PATH_SUFFIXES


def text_arguments(texts: Iterable[str], documents: bool = False) -> list[str]:
    """The CLI's TEXT arguments, checked: one that looks like a file path is never processed
    as words. With ``documents`` (summarize) an existing file is read as one document;
    otherwise a file belongs to --input. A path that does not exist is an error."""
    checked = []
    for position, text in enumerate(texts, start=1):
        path = Path(text).expanduser()
        if text != "-" and documents and path.is_file():
            checked.append(read_document(path))
        elif text == "-" or not looks_like_path(text):
            checked.append(text)
        elif path.is_dir():
            raise InputError(f"argument {position}: {text} is a directory, expected a file")
        elif path.exists():
            raise InputError(
                f"argument {position}: {text} is a file; pass --input {text} "
                "to read one text per line"
            )
        else:
            raise InputError(
                f"argument {position}: {text}: no such file; check the path "
                f"(to process the words themselves, send them on stdin with '-')"
            )
    return checked


def iter_records(
    texts: Iterable[str] = (),
    input_file: Path | None = None,
    text_column: str | None = None,
    stdin: Iterable[str] | None = None,
) -> Iterator[tuple[str, str]]:
    """(where, text) pairs in input order, read lazily: a file is never held in memory."""
    for position, text in enumerate(texts, start=1):
        if text == "-":
            yield from _numbered_lines(stdin if stdin is not None else stdin_lines(), "stdin")
        else:
            yield f"argument {position}", text
    if input_file is not None:
        yield from read_records(Path(input_file), text_column, lazy=True)


def read_records(
    path: Path, text_column: str | None = None, lazy: bool = False
) -> list[tuple[str, str]] | Iterator[tuple[str, str]]:
    """(where, text) pairs from one file; the format follows the file suffix.

    ``lazy`` returns an iterator that reads the file as it goes (flat memory).
    """
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a file")
    records = _file_records(path, text_column)
    return records if lazy else list(records)


def _file_records(path: Path, column: str | None) -> Iterator[tuple[str, str]]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        records = _parquet_records(path, column)
    elif suffix in (".csv", ".tsv"):
        records = _delimited_records(path, column)
    elif suffix == ".json" and starts_with(path, b"[{"):
        records = _json_array_records(path, column)
    elif suffix in (".jsonl", ".json"):
        records = _jsonl_records(path, column)
    else:
        records = _numbered_lines(utf8_lines(path), str(path))
    empty = True
    for record in records:
        empty = False
        yield record
    if empty:
        raise InputError(
            f"{path}: empty file, expected {_EXPECTED.get(suffix, 'one text per line')}"
        )


_EXPECTED = {
    ".csv": "a header row and data rows",
    ".tsv": "a header row and data rows",
    ".jsonl": "one JSON object per line",
    ".json": "JSON lines or an array",
    ".parquet": "rows",
}


def read_document(path: Path) -> str:
    """A whole text file as one document (for `nlpkit summarize FILE`)."""
    return "".join(utf8_lines(path))


def utf8_lines(path: Path) -> Iterator[str]:
    """Decoded lines with their endings, one at a time; bad bytes name their line."""
    try:
        with path.open("rb") as handle:
            yield from _decoded(handle, str(path), "the file")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def stdin_lines() -> Iterator[str]:
    """stdin's lines as UTF-8 whatever the locale, checked as files are: under a C locale
    Python would pass bad bytes on as lone surrogates that the tokenizer rejects."""
    raw = getattr(sys.stdin, "buffer", None)
    if raw is None:  # a text stream swapped in (tests, embedding): already decoded
        yield from sys.stdin
        return
    yield from _decoded(raw, "stdin", "the input")


def _decoded(raw_lines: Iterable[bytes], source: str, what: str) -> Iterator[str]:
    for number, raw in enumerate(raw_lines, start=1):
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{source}: line {number} is not valid UTF-8 (byte {exc.start} of the "
                f"line); convert {what} to UTF-8, e.g. `iconv -f latin1 -t utf-8`"
            ) from None


def starts_with(path: Path, marks: bytes) -> bool:
    """True when the first non-blank byte of the file is one of ``marks``."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    return bool(head) and head[:1] in [marks[i : i + 1] for i in range(len(marks))]


def _numbered_lines(lines: Iterable[str], source: str) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(lines, start=1):
        yield f"{source} line {number}", line.rstrip("\r\n")


def _delimited_records(path: Path, column: str | None) -> Iterator[tuple[str, str]]:
    lines = utf8_lines(path)
    if path.suffix.lower() == ".tsv":
        # TSV fields may contain '"' (SST-2 does): read them literally.
        reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(lines, strict=True)
    rows = csv_rows(reader, path)
    header = next(rows, None)
    if header is None:
        return
    name = pick_text_column(header, column, path)
    index = header.index(name)
    count = 0
    for row in rows:
        where = f"{path} line {reader.line_num}"
        if len(row) != len(header):
            fields = f"{len(row)} field{'s' if len(row) != 1 else ''}"
            raise InputError(
                f"{where}: {fields}, header has {len(header)}; "
                "fix the row (quote fields that contain the delimiter)"
            )
        count += 1
        yield where, row[index]
    if not count:
        raise InputError(f"{path}: header only, no data rows")


def csv_rows(reader, path: Path) -> Iterator[list[str]]:
    """Rows without blank lines; a csv.Error names its line."""
    try:
        for row in reader:
            if row:
                yield row
    except csv.Error as exc:
        raise InputError(
            f"{path} line {reader.line_num}: malformed CSV ({exc}); check quoting"
        ) from None


def _jsonl_records(path: Path, column: str | None) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(utf8_lines(path), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: invalid JSON ({exc.msg})") from None
        yield where, _item_text(item, where, column, path)


def _json_array_records(path: Path, column: str | None) -> Iterator[tuple[str, str]]:
    """A .json file holding one array of objects or strings (read whole: it is one value)."""
    try:
        items = json.loads("".join(utf8_lines(path)))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(items, list):
        raise InputError(f"{path}: expected a JSON array of objects or strings, or JSON lines")
    for number, item in enumerate(items, start=1):
        where = f"{path} item {number}"
        yield where, _item_text(item, where, column, path)


def _item_text(item: object, where: str, column: str | None, path: Path) -> str:
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        raise InputError(f"{where}: expected an object or a string, got {_kind(item)}")
    name = pick_text_column(list(item), column, path)
    return cell_text(item[name], where, name)


def _parquet_records(path: Path, column: str | None) -> Iterator[tuple[str, str]]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
        name = pick_text_column(table.schema_arrow.names, column, path)
        batches = table.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=[name])
        number = 0
        for batch in batches:
            for value in batch.column(0).to_pylist():
                number += 1
                where = f"{path} row {number}"
                yield where, cell_text(value, where, name)
    except InputError:
        raise
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise InputError(f"{path}: not a readable parquet file ({first_line(exc)})") from None


def cell_text(value: object, where: str, column: str) -> str:
    """Strings as they are, numbers as text; nulls, lists and objects are errors."""
    if value is None:
        raise InputError(f"{where}: column '{column}' is null; fill or drop the row")
    if isinstance(value, list | dict | bytes):
        raise InputError(f"{where}: column '{column}' is {_kind(value)}, expected text")
    return value if isinstance(value, str) else str(value)


def _kind(value: object) -> str:
    names = {list: "a list", dict: "an object", bytes: "binary data", type(None): "null"}
    return names.get(type(value), type(value).__name__)


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
