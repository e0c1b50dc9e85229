"""Large inputs in chunks: read lazily, run the task chunk by chunk, memory stays flat.

    from nlpkit import classify
    from nlpkit.streaming import TextSource, stream_results

    source = TextSource(input_file=Path("big.txt"))
    for result in stream_results(classify, source.chunks(), model="./my-model"):
        ...

A file is read twice, lazily: ``count()`` checks every row and counts them (a bad
line fails before any model work), then ``chunks()`` yields lists of texts. Within a
chunk the task functions still sort by length and pad per batch; a chunk is large
enough (1,024 texts) for that to pay, small enough to bound memory and lost work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from nlpkit.data import iter_records
from nlpkit.errors import InputError

CHUNK_SIZE = 1024


@dataclass
class TextSource:
    """Texts from arguments ('-' is stdin) and an input file, as collect_texts reads them."""

    texts: Sequence[str] = ()
    input_file: Path | None = None
    text_column: str | None = None
    skip_empty: bool = False
    stdin: Iterable[str] | None = field(default=None, repr=False)

    @property
    def uses_stdin(self) -> bool:
        return "-" in self.texts

    def count(self) -> int | None:
        """How many texts ``chunks()`` will yield, after checking them all; None for stdin.

        stdin can be read only once, so its rows are checked as they stream instead.
        """
        if self.uses_stdin:
            return None
        kept = empty = 0
        first_empty = ""
        for where, text in iter_records(self.texts, self.input_file, self.text_column):
            if text.strip():
                kept += 1
            else:
                empty += 1
                first_empty = first_empty or where
        if empty and not self.skip_empty:
            more = f" (and {empty - 1} more)" if empty > 1 else ""
            raise InputError(
                f"{first_empty}: empty text{more}; remove it or pass --skip-empty to drop "
                "empty texts"
            )
        if not kept:
            _raise_no_text(empty)
        return kept

    def texts_iter(self) -> Iterator[str]:
        """The kept texts one at a time, in input order."""
        kept = empty = 0
        records = iter_records(self.texts, self.input_file, self.text_column, self.stdin)
        for where, text in records:
            if text.strip():
                kept += 1
                yield text
            elif self.skip_empty:
                empty += 1
            else:
                raise InputError(
                    f"{where}: empty text; remove it or pass --skip-empty to drop empty texts"
                )
        if not kept:
            _raise_no_text(empty)

    def chunks(self, size: int = CHUNK_SIZE) -> Iterator[list[str]]:
        return chunked(self.texts_iter(), size)


def _raise_no_text(dropped: int) -> None:
    if dropped:
        raise InputError(f"no input text left after dropping {dropped} empty texts")
    raise InputError("no input text: pass texts as arguments, '-' for stdin, or --input FILE")


def chunked(items: Iterable[str], size: int = CHUNK_SIZE) -> Iterator[list[str]]:
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
