"""Write a task's rows as each chunk finishes; Ctrl-C keeps a valid, truncated output.

With --output the rows go to a temp file beside it, renamed onto it at the end, or
on Ctrl-C with what was done (a json array is closed, a parquet footer written, so
the file always parses). Any other failure removes the temp file: no half-written
output from a crash. A table on stdout is the one format that waits for all rows:
it is for people. The progress bar on stderr advances as each batch finishes: the
task reports through its ``progress`` callback, the CLI renders.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from nlpkit.batch.writers import RowWriter, carry, to_rows
from nlpkit.cli.options import OutputFormat
from nlpkit.cli.progress import progress_bar
from nlpkit.cli.render import (
    check_output,
    open_output,
    output_format,
    print_table,
    stdout_reader_may_leave,
)
from nlpkit.errors import NlpkitError
from nlpkit.inputs.stream import CHUNK_SIZE, TextSource

PROGRESS_MIN_TEXTS = 32


class Interrupted(NlpkitError):
    """Ctrl-C during a long run; the rows done so far were kept."""

    exit_code = 130


def run_streaming(
    run: Callable[..., Sequence[Any]],
    source: TextSource,
    fmt: OutputFormat,
    output: Path | None = None,
    overwrite: bool = False,
    title: str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> int:
    """Run ``run(texts, progress=on_batch)`` over the source chunk by chunk and write its
    rows as they come (with the source's other columns); returns the count."""
    total = source.count()  # checks every row before any model work
    if output is not None:
        check_output(output, overwrite)
    fmt = output_format(fmt, output)
    chunks = _row_chunks(run, source, total, chunk_size)
    if output is None:
        with stdout_reader_may_leave():
            if fmt == OutputFormat.table:
                with closing(chunks):
                    rows = [row for chunk in chunks for row in chunk]
                print_table(rows, title)
                return len(rows)
            return _write_rows(chunks, RowWriter(sys.stdout, fmt), total, None)
    with open_output(output, fmt, overwrite, keep_on=(Interrupted,)) as writer:
        return _write_rows(chunks, writer, total, output)


def _row_chunks(run, source: TextSource, total, chunk_size) -> Iterator[list[dict[str, Any]]]:
    """Output rows per chunk, in input order; the bar advances per batch."""
    seen: set[str] = set()
    show = total is not None and total >= PROGRESS_MIN_TEXTS
    with progress_bar(total or 0, "rows", show) as advance:
        for chunk in source.record_chunks(chunk_size):
            texts = [text for text, _ in chunk]
            rows = to_rows(_quietly(run, texts, seen, advance))
            yield [carry(row, extra) for row, (_, extra) in zip(rows, chunk, strict=True)]


def _write_rows(chunks, writer, total, output) -> int:
    try:
        with closing(chunks):
            for rows in chunks:
                with _interrupt_after():  # a chunk's rows are written whole, never half a line
                    writer.write(rows)
    except KeyboardInterrupt:
        writer.close()
        of = f" of {total}" if total is not None else ""
        where = f"; partial output in {output}" if output is not None else ""
        raise Interrupted(f"interrupted after {writer.rows}{of} rows{where}") from None
    writer.close()
    return writer.rows


@contextmanager
def _interrupt_after() -> Iterator[None]:
    """Hold a Ctrl-C that arrives inside the block until it ends (main thread only)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda number, _frame: received.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:
        raise KeyboardInterrupt


def _quietly(run, chunk: list[str], seen: set[str], advance) -> Sequence[Any]:
    """Run one chunk; a warning repeated by later chunks (counts aside) is shown once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = run(chunk, progress=advance)
    for warning in caught:
        key = re.sub(r"\d+", "N", str(warning.message))
        if key not in seen:
            seen.add(key)
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return results
