"""Large inputs in chunks: read lazily, run the task chunk by chunk, memory stays flat.

    from nlpkit import classify
    from nlpkit.inputs.stream import TextSource, stream_results

    source = TextSource(input_file=Path("big.txt"))
    for result in stream_results(classify, source.chunks(), model="./my-model"):
        ...

A file is read twice, lazily: ``count()`` checks every row and counts them (a bad
line fails before any model work), then ``chunks()`` yields lists of texts. Within a
chunk the task functions still sort by length and pad per batch; a chunk is large
enough (1,024 texts) for that to pay, small enough to bound memory and lost work.

With ``keep_columns`` a table file's other columns travel with each text
(``records()``), so an output row can carry the input's id or gold label.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

# The texts' own line, row and JSON readers, so the other columns parse exactly alike.
from nlpkit.inputs.readers import (
    csv_rows,
    drop_empty,
    iter_records,
    pick_text_column,
    read_records,
    starts_with,
    utf8_lines,
)

T = TypeVar("T")

CHUNK_SIZE = 1024


@dataclass
class TextSource:
    """Texts from arguments ('-' is stdin) and an input file, as collect_texts reads them.

    ``keep_columns``: ``records()`` pairs each text with the input file's other columns.
    """

    texts: Sequence[str] = ()
    input_file: Path | None = None
    text_column: str | None = None
    skip_empty: bool = False
    stdin: Iterable[str] | None = field(default=None, repr=False)
    keep_columns: bool = False

    @property
    def uses_stdin(self) -> bool:
        return "-" in self.texts

    def count(self) -> int | None:
        """How many texts ``chunks()`` will yield, after checking them all; None for stdin.

        stdin can be read only once, so its rows are checked as they stream instead.
        """
        if self.uses_stdin:
            return None
        records = iter_records(self.texts, self.input_file, self.text_column)
        return sum(1 for _ in drop_empty(records, self.skip_empty, read_all=True))

    def columns(self) -> list[str]:
        """The input file's columns other than the text, when ``keep_columns`` (else none).

        A csv/tsv header or parquet schema names them; for json lines and arrays the
        first object does (a later object's extra keys are not carried).
        """
        if not self.keep_columns or self.input_file is None:
            return []
        return other_columns(Path(self.input_file), self.text_column)

    def records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(text, {column: value}) per kept text, in input order; texts from arguments or
        stdin get None in each column. Without ``keep_columns`` the dicts are empty."""
        for _, text, extra in drop_empty(self._raw_records(), self.skip_empty):
            yield text, extra

    def texts_iter(self) -> Iterator[str]:
        """The kept texts one at a time, in input order."""
        return (text for text, _ in self.records())

    def chunks(self, size: int = CHUNK_SIZE) -> Iterator[list[str]]:
        return chunked(self.texts_iter(), size)

    def record_chunks(self, size: int = CHUNK_SIZE) -> Iterator[list[tuple[str, dict]]]:
        """``records()`` in lists of up to ``size``."""
        return chunked(self.records(), size)

    def _raw_records(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        names = self.columns()
        if not names:
            for where, text in iter_records(
                self.texts, self.input_file, self.text_column, self.stdin
            ):
                yield where, text, {}
            return
        for where, text in iter_records(self.texts, None, None, self.stdin):
            yield where, text, dict.fromkeys(names)
        path = Path(self.input_file)  # type: ignore[arg-type]
        records = read_records(path, self.text_column, lazy=True)
        for (where, text), extra in zip(records, column_values(path, names), strict=True):
            yield where, text, extra


def chunked(items: Iterable[T], size: int = CHUNK_SIZE) -> Iterator[list[T]]:
    """Lists of up to ``size`` items, in order."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def stream_results(
    task: Callable[..., list[Any]], chunks: Iterable[list[str]], **options: Any
) -> Iterator[Any]:
    """Results of ``task(chunk, **options)`` for each chunk, one result at a time."""
    for chunk in chunks:
        yield from task(chunk, **options)


def other_columns(path: Path, text_column: str | None = None) -> list[str]:
    """Columns of a table file besides its text column; [] for a .txt file.

    Problems are left to the text reader, which names the file and line.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            names = pq.ParquetFile(path).schema_arrow.names
        elif suffix in (".csv", ".tsv"):
            names = next(delimited_rows(path), [])
        elif suffix in (".json", ".jsonl"):
            first = next((item for item in json_items(path) if item is not None), None)
            names = list(first) if isinstance(first, dict) else []
        else:
            return []
        text = pick_text_column(names, text_column, path)
    except Exception:  # a bad file (pyarrow raises many types): the text reader says why
        return []
    return [name for name in names if name != text]


def column_values(path: Path, names: list[str]) -> Iterator[dict[str, Any]]:
    """{name: value} per data row of a table file, in the order its texts are read."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(columns=names):
            yield from batch.to_pylist()
    elif suffix in (".csv", ".tsv"):
        rows = delimited_rows(path)
        header = next(rows)
        for row in rows:
            values = dict(zip(header, row, strict=False))
            yield {name: values.get(name) for name in names}
    else:
        for item in json_items(path):
            if item is None:
                continue  # a blank line: no text either
            found = item if isinstance(item, dict) else {}
            yield {name: found.get(name) for name in names}


def delimited_rows(path: Path) -> Iterator[list[str]]:
    lines = utf8_lines(path)
    if path.suffix.lower() == ".tsv":
        reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(lines, strict=True)
    return csv_rows(reader, path)


def json_items(path: Path) -> Iterator[Any]:
    """The items of a json array, or one per line of json lines (None for a blank line)."""
    if path.suffix.lower() == ".json" and starts_with(path, b"[{"):
        yield from json.loads("".join(utf8_lines(path)))
        return
    for line in utf8_lines(path):
        yield json.loads(line) if line.strip() else None
