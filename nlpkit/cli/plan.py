"""`nlpkit plan` (and `finetune --dry-run`): show how a recipe would run, without training."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from nlpkit.cli import options as opt
from nlpkit.cli.option_groups import LaunchOptions, with_launch_options
from nlpkit.cli.render import print_mapping

RecipeFile = Annotated[
    Path, typer.Argument(help="The recipe .yaml file.", show_default=False, dir_okay=False)
]


@with_launch_options
def plan_cmd(
    recipe: RecipeFile,
    overrides: opt.RecipeOverrides = None,
    format: opt.Format = opt.OutputFormat.table,
    *,
    launch: LaunchOptions,
) -> None:
    """Show devices, distributed mode, precision, batch sizes, steps and memory; train nothing.

    Example: nlpkit plan recipes/sst2-minilm.yaml --processes 2
    """
    show_plan(recipe, overrides, launch.processes, launch.gpus, launch.nodes(), format)


def show_plan(recipe, overrides, processes, gpus, nodes, format: opt.OutputFormat) -> None:
    """Compute the plan, then print it as a table or json."""
    from nlpkit.training.plan import plan

    result = plan(recipe, overrides, processes=processes, gpus=gpus, nodes=nodes)
    if format != opt.OutputFormat.table:
        print_mapping(asdict(result), format, "plan")
        return
    print_mapping(plan_rows(result), format, f"plan: {result.task}")


def plan_rows(result: Any) -> dict[str, Any]:
    """The table rows: short, human units; json keeps the raw numbers."""
    from nlpkit.training.estimate import human_bytes

    rows: dict[str, Any] = {"model": result.model, "devices": ", ".join(result.devices)}
    rows["distributed"] = result.distributed
    rows["precision"] = result.precision
    accumulation = result.gradient_accumulation_steps
    rows["batch per device"] = result.per_device_batch_size
    rows["effective batch"] = (
        f"{result.effective_batch_size} = {result.per_device_batch_size} x "
        f"{accumulation} accumulation x {result.world_size} process(es)"
    )
    rows["train rows"] = _or_unknown(result.train_rows)
    rows["steps per epoch"] = _or_unknown(result.steps_per_epoch)
    rows["total steps"] = _or_unknown(result.total_steps)
    if result.parameters is not None:
        rows["parameters"] = f"{result.trainable_parameters:,} trainable of {result.parameters:,}"
    memory = result.memory_per_device
    if memory:
        parts = ", ".join(
            f"{key} {human_bytes(value)}" for key, value in memory.items() if key != "total"
        )
        rows["memory per device (est.)"] = f"{human_bytes(memory['total'])} ({parts})"
    if result.search_keys:
        rows["search"] = search_row(result.search_keys, result.steps_per_trial)
    if result.launch_command:
        rows["launch"] = result.launch_command
    for index, note in enumerate(result.notes, 1):
        rows[f"note {index}"] = note
    return rows


def search_row(keys: list[str], steps: list[int] | None) -> str:
    """The cost of `nlpkit tune`: trials x steps per trial."""
    from nlpkit.training.tune import DEFAULT_TRIALS

    varied = ", ".join(keys)
    if steps is None:
        return f"{varied}; steps per trial unknown"
    low, high = steps
    per_trial = f"{low:,}" if low == high else f"{low:,}-{high:,}"
    total = f"{DEFAULT_TRIALS * low:,}" + ("" if low == high else f"-{DEFAULT_TRIALS * high:,}")
    return (
        f"{varied}: trials x {per_trial} steps "
        f"(nlpkit tune --trials {DEFAULT_TRIALS}: {total} steps)"
    )


def _or_unknown(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"
