"""`nlpkit tune`: a hyper-parameter search over a recipe's `search:` block; parse, call, render."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from nlpkit.cli import options as opt
from nlpkit.cli.plan import RecipeFile
from nlpkit.cli.render import out, print_mapping
from nlpkit.training.tune import DEFAULT_TRIALS


def tune_cmd(
    recipe: RecipeFile,
    trials: Annotated[
        int,
        typer.Option("--trials", min=1, help="Trials in all (a resumed search counts its own)."),
    ] = DEFAULT_TRIALS,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=1, help="Start no new trial after this many seconds."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Folder for study.db, trials.csv, trials.png, best.yaml "
            "[default: the recipe's output_dir + -tune].",
            show_default=False,
            file_okay=False,
        ),
    ] = None,
    overrides: opt.RecipeOverrides = None,
    format: opt.Format = opt.OutputFormat.table,
    threads: opt.Threads = None,
) -> None:
    """Search hyper-parameters with Optuna over the recipe's search: block; write best.yaml.

    Rerun the same command to resume a search that was stopped.

    Example: nlpkit tune recipes/sst2-minilm.yaml --trials 10 --set data.max_train_samples=2000
    """
    from nlpkit.cli.progress import train_reporter
    from nlpkit.devices import use_threads
    from nlpkit.training.tune import TrialEvent, tune

    use_threads(threads)
    _quiet_optuna()
    with train_reporter() as train_report:

        def report(event: Any) -> None:
            if isinstance(event, TrialEvent):
                out.note(trial_line(event))
            else:
                train_report(event)

        result = tune(recipe, trials, timeout, output, overrides, report=report)
    if format != opt.OutputFormat.table:
        print_mapping(asdict(result), format, "tune")
        return
    print_mapping(tune_summary(result), format, f"tune: {result.metric}")


def _quiet_optuna() -> None:
    """Optuna's per-trial lines (and its traceback of a Ctrl-C) repeat what trial_line shows."""
    import importlib.util

    if importlib.util.find_spec("optuna") is not None:  # else tune() names the install
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)


def trial_line(event: Any) -> str:
    values = ", ".join(f"{key}={_short(value)}" for key, value in event.params.items())
    where = f"trial {event.number + 1}/{event.trials}"
    if event.kind == "start":
        return f"{where}: {values}"
    if event.state == "interrupted":
        return f"{where}: interrupted; run the same `nlpkit tune` command to resume the search"
    if event.value is None:
        return f"{where}: {event.state}"
    return f"{where}: {event.metric} {event.value:.4f} (best {event.best_value:.4f})"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def tune_summary(result: Any) -> dict[str, Any]:
    states = Counter(row["state"] for row in result.trials)
    rows: dict[str, Any] = {
        f"best {result.metric}": result.best_value,
        "best trial": result.best_trial + 1,
        **{f"best {key}": _short(value) for key, value in result.best_params.items()},
        "trials": ", ".join(f"{count} {state}" for state, count in states.items()),
    }
    if result.resumed_trials:
        rows["resumed after"] = f"{result.resumed_trials} finished trials"
    rows["best recipe"] = result.best_recipe
    rows["output_dir"] = result.output_dir
    return rows
