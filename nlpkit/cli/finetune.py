"""`nlpkit finetune` and `nlpkit evaluate`: parse, call the library, render."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from nlpkit.cli import options as opt
from nlpkit.cli.option_groups import LaunchOptions, with_launch_options
from nlpkit.cli.plan import show_plan
from nlpkit.cli.render import out, print_mapping
from nlpkit.tasks.table import TASK_NAMES as TASKS

RecipeFile = Annotated[
    Path, typer.Argument(help="The recipe .yaml file.", show_default=False, dir_okay=False)
]


@with_launch_options
def finetune_cmd(
    recipe: RecipeFile,
    overrides: opt.RecipeOverrides = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Delete a previous run in output_dir and start over."),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue from the last checkpoint in output_dir."),
    ] = False,
    format: opt.Format = opt.OutputFormat.table,
    threads: opt.Threads = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan (as `nlpkit plan`) and stop.")
    ] = False,
    trust_remote_code: opt.TrustRemoteCode = False,
    allow_pickle: opt.AllowPickle = False,
    *,
    launch: LaunchOptions,
) -> None:
    """Fine-tune a model as a recipe says, then save model, metrics and card to output_dir.

    Example: nlpkit finetune recipes/sst2-minilm.yaml --set training.epochs=1 --processes 2
    """
    from nlpkit.devices import use_threads
    from nlpkit.training.launch import inside_launch, launch_requested

    overrides = with_safety(overrides, trust_remote_code, allow_pickle)
    processes, gpus, nodes = launch.processes, launch.gpus, launch.nodes()
    if dry_run:
        show_plan(recipe, overrides, processes, gpus, nodes, format)
        return
    if launch_requested(processes, gpus, nodes) and not inside_launch():
        sets = [arg for item in overrides or [] for arg in ("--set", item)]
        flags = ["--overwrite"] * overwrite + ["--resume"] * resume
        flags += ["--threads", str(threads)] if threads else []  # per worker; torchrun: 1
        args = [str(recipe), *sets, *flags, "--format", format.value]
        raise typer.Exit(
            _launch(str(recipe), overrides, args, processes, gpus, nodes, overwrite, resume)
        )
    use_threads(threads)
    _finetune_here(recipe, overrides, overwrite, resume, format)


def _launch(recipe_path: str, overrides, worker_args, *options) -> int:
    """Run the workers under torchrun, after saying how; their exit status."""
    from nlpkit.training.launch import prepare_launch, run_launch

    launch = prepare_launch(recipe_path, overrides, worker_args, *options)
    out.note(f"launching {launch.topology.mode}: {launch.shell()}")
    return run_launch(launch)


def _finetune_here(recipe: Path, overrides, overwrite: bool, resume: bool, format) -> None:
    from nlpkit.cli.progress import train_reporter
    from nlpkit.training.outputs import is_main_process
    from nlpkit.training.run import finetune

    with train_reporter() as report:
        result = finetune(recipe, overrides, overwrite=overwrite, resume=resume, report=report)
    if not is_main_process():  # under torchrun / accelerate launch, rank 0 reports
        return
    if result.already_finished:
        out.note(
            f"nothing to resume: the run in {result.output_dir} already finished "
            "(pass --overwrite to train again)"
        )
    if format != opt.OutputFormat.table:
        print_mapping(asdict(result), format, "finetune")
        return
    print_mapping(finetune_summary(result), format, f"finetune: {result.task}")


def with_safety(overrides: list[str] | None, trust_remote_code: bool, allow_pickle: bool):
    """The flags as recipe keys, so they travel with --set to every launched process."""
    flags = {"trust_remote_code": trust_remote_code, "allow_pickle": allow_pickle}
    return [*(overrides or []), *(f"{key}=true" for key, on in flags.items() if on)] or None


def finetune_summary(result: Any) -> dict[str, Any]:
    """The rows of the final table: where, how long, how fast, how good."""
    train = result.train_metrics
    rows: dict[str, Any] = {"output_dir": result.output_dir, "steps": result.global_step}
    if result.resumed_from_step is not None:
        rows["resumed from step"] = result.resumed_from_step
    rows["train loss"] = train.get("train_loss")
    rows["train time (s)"] = train.get("train_runtime")
    rows["train samples/s"] = train.get("train_samples_per_second")
    rows["trainable parameters"] = f"{result.trainable_parameters:,} of {result.total_parameters:,}"
    rows["precision"] = result.precision
    rows.update({f"eval {key}": value for key, value in result.metrics.items()})
    if result.adapter_dir:
        rows["LoRA adapter"] = result.adapter_dir
    return rows


MetricNames = Annotated[
    list[str] | None,
    typer.Option(
        "--metric",
        help="Score with this metric instead of the task's (repeatable): accuracy, f1, "
        "precision, recall, exact_match, rouge, sacrebleu, chrf, perplexity, an evaluate "
        "Hub name, or a ./metric.py path.",
        show_default=False,
    ),
]


def evaluate_cmd(
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="A model folder (e.g. a finetune output_dir).", show_default=False
        ),
    ],
    recipe: Annotated[
        Path | None,
        typer.Option(
            "--recipe",
            help="Take the eval split and columns from this recipe.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Evaluate on this csv/tsv/json/jsonl/parquet file.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task", help=f"Task when no recipe is known: {', '.join(TASKS)}.", show_default=False
        ),
    ] = None,
    column_names: Annotated[
        str | None,
        typer.Option(
            "--column-names",
            help="The csv/tsv file has no header row; its columns, in order, e.g. text,label.",
            show_default=False,
        ),
    ] = None,
    metric: MetricNames = None,
    overrides: opt.RecipeOverrides = None,
    batch_size: opt.BatchSize = None,
    format: opt.Format = opt.OutputFormat.table,
    trust_remote_code: opt.TrustRemoteCode = False,
    allow_pickle: opt.AllowPickle = False,
) -> None:
    """Evaluate a saved model on a recipe's eval split or a data file; print the metrics.

    Example: nlpkit evaluate --model runs/sst2-minilm --data dev.tsv --metric f1
    """
    from nlpkit.training.evaluate import evaluate_model

    overrides = with_safety(overrides, trust_remote_code, allow_pickle)
    names = [name.strip() for name in column_names.split(",")] if column_names else None
    metrics = evaluate_model(model, recipe, data, task, overrides, batch_size, names, metric)
    print_mapping(metrics, format, f"evaluate: {model}")
