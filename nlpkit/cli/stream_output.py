"""Write a task's rows as each chunk finishes; Ctrl-C keeps a valid, truncated output.

With --output the rows go to a temp file beside it, renamed onto it at the end, or
on Ctrl-C with what was done (a json array is closed, so the file always parses).
Any other failure removes the temp file: no half-written output from a crash.
A table on stdout is the one format that waits for all rows: it is for people.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from nlpkit.cli.options import OutputFormat
from nlpkit.cli.render import _flat, open_temp, print_table, to_rows
from nlpkit.errors import NlpkitError
from nlpkit.progress import progress_bar
from nlpkit.streaming import CHUNK_SIZE, TextSource

PROGRESS_MIN_TEXTS = 32


class Interrupted(NlpkitError):
    """Ctrl-C during a long run; the rows done so far were kept."""

    exit_code = 130


class RowWriter:
    """jsonl / csv / json rows appended chunk by chunk to an open text handle."""

    def __init__(self, handle: IO[str], fmt: OutputFormat) -> None:
        self.handle, self.fmt = handle, fmt
        self.rows = 0
        self._csv: csv.DictWriter | None = None

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if self.fmt == OutputFormat.csv:
            if self._csv is None and rows:
                self._csv = csv.DictWriter(self.handle, fieldnames=list(rows[0]))
                self._csv.writeheader()
            for row in rows:
                self._csv.writerow({k: _flat(v) for k, v in row.items()})  # type: ignore[union-attr]
        elif self.fmt == OutputFormat.json:
            for row in rows:
                item = json.dumps(row, ensure_ascii=False, indent=2).replace("\n", "\n  ")
                self.handle.write(("[\n  " if self.rows == 0 else ",\n  ") + item)
                self.rows += 1
            self.handle.flush()
            return
        else:
            self.handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        self.rows += len(rows)
        self.handle.flush()

    def close(self) -> None:
        if self.fmt == OutputFormat.json:
            self.handle.write("\n]\n" if self.rows else "[]\n")
        self.handle.flush()


def run_streaming(
    run: Callable[[list[str]], Sequence[Any]],
    source: TextSource,
    fmt: OutputFormat,
    output: Path | None = None,
    overwrite: bool = False,
    title: str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> int:
    """Run ``run(chunk)`` over the source and write its rows as they come; returns the count."""
    total = source.count()  # checks every row before any model work
    if output is None and fmt == OutputFormat.table:
        rows = [row for chunk in source.chunks(chunk_size) for row in to_rows(run(chunk))]
        print_table(rows, title)
        return len(rows)
    fmt = OutputFormat.jsonl if fmt == OutputFormat.table else fmt
    if output is None:
        return _write_rows(run, source, RowWriter(sys.stdout, fmt), total, chunk_size, None)
    fd, tmp = open_temp(output, overwrite)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            done = _write_rows(run, source, RowWriter(handle, fmt), total, chunk_size, output)
        os.replace(tmp, output)
        return done
    except Interrupted:
        os.replace(tmp, output)  # the rows done so far, as a valid file
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_rows(run, source, writer: RowWriter, total, chunk_size, output) -> int:
    seen: set[str] = set()
    show = total is not None and total >= PROGRESS_MIN_TEXTS
    try:
        with progress_bar(total or 0, "rows", show) as advance:
            for chunk in source.chunks(chunk_size):
                rows = to_rows(_quietly(run, chunk, seen))
                writer.write(rows)
                advance(len(rows))
    except KeyboardInterrupt:
        writer.close()
        of = f" of {total}" if total is not None else ""
        where = f"; partial output in {output}" if output is not None else ""
        raise Interrupted(f"interrupted after {writer.rows}{of} rows{where}") from None
    writer.close()
    return writer.rows


def _quietly(run, chunk: list[str], seen: set[str]) -> Sequence[Any]:
    """Run one chunk; a warning repeated by later chunks (counts aside) is shown once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = run(chunk)
    for warning in caught:
        key = re.sub(r"\d+", "N", str(warning.message))
        if key not in seen:
            seen.add(key)
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return results
