"""`nlpkit models [rm NAME]`: the built-in models and the GGUF conversions in the store."""

from __future__ import annotations

from typing import Annotated

import typer

from nlpkit.cli import options as opt
from nlpkit.cli.render import emit, out

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
    from nlpkit.models.store import list_models

    emit(list_models(), format, title="nlpkit models")


@app.command("rm")
def rm_cmd(
    name: Annotated[str, typer.Argument(help="A NAME from `nlpkit models`.", show_default=False)],
) -> None:
    """Delete a converted model to free its disk space (the GGUF file it came from stays).

    Example: nlpkit models rm smollm2
    """
    from nlpkit.models.store import remove_model

    removed = remove_model(name)
    out.result(f"removed {removed.name}: {removed.size_mb} MB freed ({removed.path})")
