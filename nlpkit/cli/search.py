"""`nlpkit search DIR QUERY`: the rows of an index nearest a query, ranked with scores."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nlpkit.cli import options as opt
from nlpkit.cli.render import emit, out

if TYPE_CHECKING:
    from nlpkit.index import SearchHit


def search_cmd(
    index: Annotated[
        Path, typer.Argument(metavar="DIR", help="An index folder (nlpkit index build).")
    ],
    queries: Annotated[
        list[str],
        typer.Argument(
            metavar="QUERY",
            help="What to look for; several queries are searched in turn.",
            show_default=False,
        ),
    ],
    top_k: Annotated[
        int, typer.Option("--top-k", "-k", metavar="N", help="Rows to show per query.")
    ] = 5,
    model: opt.model_option("the index's model (another one is refused)") = None,
    nprobe: Annotated[
        int | None,
        typer.Option(
            "--nprobe",
            metavar="N",
            show_default=False,
            help="IVF cells to scan per query (default: calibrated at build); more is "
            "slower and finds more.",
        ),
    ] = None,
    format: opt.Format = opt.OutputFormat.table,
) -> None:
    """Find the indexed rows closest in meaning to a query.

    Example: nlpkit search myindex/ "a film about friendship" --top-k 5
    """
    from nlpkit.index import search
    from nlpkit.index.query import check_top_k

    check_top_k(top_k)  # before loading anything
    found = search(index, list(queries), top_k=top_k, model=model, nprobe=nprobe)
    rows = [_row(query, hit) for query, hits in zip(queries, found, strict=True) for hit in hits]
    if format == opt.OutputFormat.table:
        out.table(_table(rows, len(queries) > 1))
    else:
        emit(rows, format)


def _row(query: str, hit: SearchHit) -> dict[str, Any]:
    """A hit as an output row; a column named like a field gets an input_ prefix."""
    from nlpkit.batch.writers import carry

    row = {"query": query, "rank": hit.rank, "score": hit.score, "id": hit.id, "text": hit.text}
    return carry(row, hit.columns)


def _table(rows: list[dict[str, Any]], several: bool) -> Any:
    from rich.table import Table

    table = Table()
    names = (
        [name for name in rows[0] if several or name != "query"]
        if rows
        else ["rank", "score", "text"]
    )
    for name in names:
        table.add_column(
            name, justify="right" if name in ("rank", "score") else "left", overflow="fold"
        )
    for row in rows:
        table.add_row(*(f"{row[n]:.4f}" if n == "score" else str(row[n]) for n in names))
    return table
