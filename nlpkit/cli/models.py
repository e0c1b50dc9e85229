"""`nlpkit models [rm NAME]`: the built-in models and the GGUF conversions in the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nlpkit.cli import options as opt
from nlpkit.cli.render import emit, out

if TYPE_CHECKING:
    from nlpkit.models.store import ModelInfo

app = typer.Typer(
    name="models",
    help="List the built-in and converted models; remove conversions.",
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def models_cmd(ctx: typer.Context, format: opt.Format = opt.OutputFormat.table) -> None:
    """List built-in models and GGUF files converted into the store, with size and path.

    Example: nlpkit models --format json
    """
    if ctx.invoked_subcommand is not None:
        return
    from nlpkit.models.store import list_models, models_dir

    if format == opt.OutputFormat.table:
        out.table(models_table(list_models(), models_dir()))
    else:
        emit(list_models(), format)


@app.command("rm")
def rm_cmd(
    name: Annotated[str, typer.Argument(help="A NAME from `nlpkit models`.", show_default=False)],
) -> None:
    """Delete a store entry to free its disk space (the file it came from stays).

    Example: nlpkit models rm smollm2
    """
    from nlpkit.models.store import remove_model

    removed = remove_model(name)
    out.result(f"removed {removed.name}: {removed.size_mb} MB freed ({removed.path})")


def models_table(rows: list[ModelInfo], store: Path) -> Any:
    """The table for a terminal: kind with status, backend with its int8 recipe, paths in
    the store relative to it (named in the title), others with ``~`` for the home folder;
    long cells fold. The source (long) is in --format json."""
    from rich.table import Table

    table = Table(title=f"nlpkit models in {_short(str(store))}")
    # Caps on the wrapping columns leave the path about 20 characters a line at 80
    # columns, instead of 9.
    table.add_column("name", overflow="fold", max_width=20)
    table.add_column("status", max_width=16)
    table.add_column("backend", max_width=14)
    table.add_column("MB", justify="right", no_wrap=True)
    table.add_column("path", overflow="fold")
    for row in rows:
        backend = f"{row.backend}, {row.int8_recipe}" if row.int8_recipe else row.backend
        path = Path(row.path) if row.path else None
        shown = path.name if path and path.parent == store else _short(row.path)
        table.add_row(row.name, f"{row.kind}: {row.status}", backend, str(row.size_mb), shown)
    return table


def _short(path: str) -> str:
    """``path`` with ``~`` for the home folder."""
    home = str(Path.home())
    if path and home not in ("", "/") and (path == home or path.startswith(home + "/")):
        return "~" + path[len(home) :]
    return path
