"""`nlpkit recipe validate | show | init`: check, resolve and start recipes (no torch needed)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from nlpkit.cli import options as opt
from nlpkit.cli.render import out, write_atomic
from nlpkit.tasks.table import TASK_NAMES

app = typer.Typer(
    name="recipe",
    help="Check, show and start fine-tuning recipes.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


TaskName = StrEnum("TaskName", {name: name for name in TASK_NAMES})  # the task table's names


class RecipeFormat(StrEnum):
    yaml = "yaml"
    json = "json"


RecipeFile = Annotated[
    Path, typer.Argument(help="The recipe .yaml file.", show_default=False, dir_okay=False)
]


@app.command("validate")
def validate_cmd(recipe: RecipeFile, overrides: opt.RecipeOverrides = None) -> None:
    """Check a recipe: unknown keys, wrong types, missing fields and files, with their lines.

    Example: nlpkit recipe validate recipes/sst2-minilm.yaml --set training.epochs=1
    """
    from nlpkit.recipe.schema import load_recipe

    loaded = load_recipe(recipe, overrides)
    source = loaded.data.dataset or Path(loaded.data.train_file or "").name
    lora = f", LoRA r={loaded.lora.r}" if loaded.lora else ""
    out.result(f"{recipe}: valid ({loaded.task}, model {loaded.model}, data {source}{lora})")


@app.command("show")
def show_cmd(
    recipe: RecipeFile,
    overrides: opt.RecipeOverrides = None,
    format: Annotated[
        RecipeFormat, typer.Option("--format", "-f", help="yaml or json.")
    ] = RecipeFormat.yaml,
) -> None:
    """Print the fully resolved recipe: every key, defaults filled in, paths made absolute.

    Example: nlpkit recipe show recipes/sst2-minilm.yaml --set training.epochs=1
    """
    from nlpkit.recipe.schema import load_recipe

    loaded = load_recipe(recipe, overrides)
    if format == RecipeFormat.json:
        out.result(json.dumps(loaded.resolved(), indent=2, ensure_ascii=False))
    else:
        out.result(loaded.to_yaml(), end="")


@app.command("init")
def init_cmd(
    task: Annotated[TaskName, typer.Argument(help="The task the recipe trains for.")],
    output: Annotated[
        Path | None,
        typer.Argument(help="Write the recipe here (default: stdout).", show_default=False),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")
    ] = False,
) -> None:
    """Write a commented starter recipe for a task, every key with its default.

    Example: nlpkit recipe init text-classification my-recipe.yaml
    """
    from nlpkit.recipe.template import starter_recipe

    text = starter_recipe(task.value)
    if output is None or str(output) == "-":
        out.result(text, end="")
        return
    write_atomic(output, text, overwrite)
    out.result(f"wrote {output}; check it with: nlpkit recipe validate {output}")
