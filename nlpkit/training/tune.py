"""Hyper-parameter search: Optuna trials of nlpkit's own fine-tuning run.

    from nlpkit import tune
    result = tune("recipes/sst2-minilm.yaml", trials=10)
    result.best_params, result.best_recipe   # {'training.learning_rate': ...}, .../best.yaml

Each trial is `finetune` on the recipe with the trial's values set (the recipe's
`search:` block names the keys and ranges), so LoRA, the task's metrics, the
callbacks and the run folder work as in any run. Optuna proposes the values (TPE),
prunes a trial whose evaluation in its second half trails the median of earlier
trials at that step, and keeps the study in SQLite. Optuna directly rather than
``Trainer.hyperparameter_search``: that one rebuilds only the model and varies only
TrainingArguments, so ``lora.r`` or ``data.max_length`` could not be searched, and
nlpkit's run (data, LoRA, callbacks, saved folder) would be bypassed.

The output folder holds ``study.db`` (a killed search resumes from it: finished
trials are kept, the interrupted one runs again), ``trials.csv``, ``trials.png``
(the objective per trial), ``best.yaml`` (the recipe with the best values,
runnable by `nlpkit finetune`) and ``trials/trial-N``, the best trial's run.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nlpkit.atomic import write_text
from nlpkit.errors import OutputError, RecipeError, TrainingError, UsageError
from nlpkit.training.tracking import require_package

if TYPE_CHECKING:  # the CLI reads DEFAULT_TRIALS at start-up: pydantic loads on first use
    from nlpkit.recipe.schema import Recipe

STUDY_FILE, TRIALS_CSV, TRIALS_PLOT, BEST_RECIPE, TRIALS_DIR = (
    "study.db",
    "trials.csv",
    "trials.png",
    "best.yaml",
    "trials",
)
STUDY_NAME = "nlpkit-tune"
DEFAULT_TRIALS = 10
LOWER_IS_BETTER = ("loss", "perplexity")


@dataclass(frozen=True)
class TrialEvent:
    """A trial began (``start``) or ended (``end``: ``state`` complete, pruned, failed or
    interrupted: the search resumes from there when run again)."""

    kind: Literal["start", "end"]
    number: int
    trials: int
    params: dict[str, Any]
    state: str = "running"
    value: float | None = None
    best_value: float | None = None
    metric: str = ""  # what value and best_value measure


@dataclass
class TuneResult:
    """What a search found: the best values, where they are written, and every trial."""

    output_dir: str
    metric: str
    direction: str
    best_value: float
    best_params: dict[str, Any]
    best_trial: int
    best_recipe: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    resumed_trials: int = 0  # trials finished by an earlier, interrupted call


def tune(
    recipe: str | Path | Recipe,
    trials: int = DEFAULT_TRIALS,
    timeout: float | None = None,
    output_dir: str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    report: Callable[[Any], None] | None = None,
) -> TuneResult:
    """Search the recipe's `search:` space for ``trials`` trials in all (finished trials of an
    earlier call in the same ``output_dir`` count), or until ``timeout`` seconds.

    ``report`` receives a TrialEvent when a trial starts and ends, and the trial's
    TrainEvents in between. The default ``output_dir`` is the recipe's output_dir + "-tune".
    """
    if trials < 1:
        raise UsageError(f"trials={trials}: run at least one trial", param="trials")
    base = _search_recipe(recipe, overrides)
    require_package("optuna", 'hyper-parameter search needs it: pip install "nlpkit[tune]"')
    out = Path(output_dir) if output_dir else Path(f"{base.output_dir}-tune")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"output_dir {out}: cannot create it ({exc.strerror})") from None
    study = _open_study(base, out, trials)
    done = _finished(study)
    objective = _Objective(base, out, trials, report)
    if len(done) < trials:
        study.optimize(
            objective,
            n_trials=trials - len(done),
            timeout=timeout,
            callbacks=[lambda study, trial: _keep_best_run(study, out)],
            gc_after_trial=True,
        )
    return _write_outputs(base, study, out, resumed=len(done))


def _search_recipe(recipe: str | Path | Recipe, overrides) -> Recipe:
    from nlpkit.recipe.schema import Recipe, load_recipe, override_recipe

    if isinstance(recipe, Recipe):
        recipe = override_recipe(recipe, overrides) if overrides else recipe
    else:
        recipe = load_recipe(recipe, overrides)
    if not recipe.search:
        raise RecipeError(
            "the recipe has no search: block; add one, e.g. "
            "search: {training.learning_rate: {low: 1.0e-5, high: 1.0e-3, log: true}}"
        )
    if not recipe.has_eval:
        raise RecipeError("a search scores each trial on evaluation data: add data.eval_file")
    return recipe


def direction(recipe: Recipe) -> str:
    return "minimize" if recipe.metric in LOWER_IS_BETTER else "maximize"


def _open_study(recipe: Recipe, out: Path, trials: int):
    """The study in out/study.db: new, or the one an earlier call left (same search only)."""
    import optuna

    study = optuna.create_study(
        study_name=STUDY_NAME,
        storage=f"sqlite:///{(out / STUDY_FILE).resolve()}",
        direction=direction(recipe),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
        load_if_exists=True,
    )
    # Seeded, and anew on each call: a resumed search must not propose its first trials again.
    # Random values for the first half of a short search (TPE's default is 10), then TPE.
    study.sampler = optuna.samplers.TPESampler(
        seed=recipe.training.seed + len(study.trials),
        n_startup_trials=max(2, min(10, trials // 2)),
    )
    _check_same_search(study, recipe, out)
    _retry_interrupted(study)
    return study


def _check_same_search(study, recipe: Recipe, out: Path) -> None:
    import json

    space = json.dumps(recipe.search, sort_keys=True)
    saved = study.user_attrs.get("search")
    if saved is None:
        study.set_user_attr("search", space)
        study.set_user_attr("metric", recipe.metric)
    elif saved != space or study.user_attrs.get("metric") != recipe.metric:
        raise UsageError(
            f"{out} holds a search over other keys, ranges or metric; "
            "choose another output folder, or delete this one to start over"
        )


def _retry_interrupted(study) -> None:
    """Trials left running by a killed search: failed, and their values queued again."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(trial.params)


def _finished(study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


class _Objective:
    """One trial: the recipe with the trial's values, trained by `finetune`, scored."""

    def __init__(self, recipe: Recipe, out: Path, trials: int, report) -> None:
        self.recipe, self.out, self.trials, self.report = recipe, out, trials, report

    def __call__(self, trial) -> float:
        import optuna

        from nlpkit.recipe.schema import validate_recipe
        from nlpkit.recipe.search import spaces, with_values
        from nlpkit.training.run import finetune

        params = {key: _suggest(trial, key, space) for key, space in spaces(self.recipe).items()}
        folder = self.out / TRIALS_DIR / f"trial-{trial.number}"
        data = with_values(self.recipe.resolved(), {**params, "output_dir": str(folder)})
        recipe = validate_recipe(data)
        self._say(TrialEvent("start", trial.number, self.trials, params))
        pruning = _pruning_callback(trial, recipe.metric)
        try:
            result = finetune(
                recipe, overwrite=True, report=self.report, progress=False, callbacks=[pruning]
            )
        except KeyboardInterrupt:  # Optuna marks the trial failed: queue its values again
            trial.study.enqueue_trial(params)
            self._say(TrialEvent("end", trial.number, self.trials, params, "interrupted"))
            raise
        except TrainingError:
            if _best_number(trial.study) is None:
                raise  # nothing has worked yet: the recipe itself fails, so stop here
            self._say(TrialEvent("end", trial.number, self.trials, params, "failed"))
            return math.nan  # Optuna marks the trial failed, and the search goes on
        if pruning.pruned:
            self._say(TrialEvent("end", trial.number, self.trials, params, "pruned"))
            raise optuna.TrialPruned()
        value = float(result.metrics[recipe.metric])
        best = _best_value(trial.study, value)
        end = dict(state="complete", value=value, best_value=best, metric=recipe.metric)
        self._say(TrialEvent("end", trial.number, self.trials, params, **end))
        return value

    def _say(self, event: TrialEvent) -> None:
        if self.report is not None:
            self.report(event)


def _suggest(trial, key: str, space) -> Any:
    from nlpkit.recipe.search import SearchRange

    if not isinstance(space, SearchRange):
        return trial.suggest_categorical(key, space)
    if space.is_int:
        return trial.suggest_int(key, space.low, space.high, step=space.step or 1, log=space.log)
    return trial.suggest_float(key, space.low, space.high, step=space.step, log=space.log)


def _best_value(study, value: float) -> float:
    from optuna.trial import TrialState

    values = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    pick = min if study.direction.name == "MINIMIZE" else max
    return pick([*values, value])


def _pruning_callback(trial, metric: str):
    """Reports each evaluation to the trial; stops training when Optuna prunes it, which it
    may do from the trial's second half on: early evaluations (warm-up, a LoRA still near
    its start) say little about where a learning rate ends."""
    from transformers import TrainerCallback

    from nlpkit.training.callbacks import metric_score

    class Pruning(TrainerCallback):
        pruned = False

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            score = metric_score(metric, metrics or {})
            if score is None or not state.is_world_process_zero:
                return
            trial.report(score, state.global_step)
            if 2 * state.global_step >= state.max_steps and trial.should_prune():
                self.pruned = control.should_training_stop = True

    return Pruning()


def _keep_best_run(study, out: Path) -> None:
    """Only the best trial's run folder stays; the others are in the study and trials.csv."""
    best = _best_number(study)
    for folder in (out / TRIALS_DIR).glob("trial-*"):
        if folder.name != f"trial-{best}":
            shutil.rmtree(folder, ignore_errors=True)


def _best_number(study) -> int | None:
    try:
        return study.best_trial.number
    except ValueError:
        return None  # no trial has completed yet


def _write_outputs(recipe: Recipe, study, out: Path, resumed: int) -> TuneResult:
    best = _best_number(study)
    if best is None:
        raise TrainingError(
            f"no trial completed (see {out / TRIALS_CSV}); check the recipe with "
            "`nlpkit finetune`, or widen the search",
            param="trials",
        )
    trial = study.best_trial
    best_path = out / BEST_RECIPE
    write_best_recipe(recipe, trial.params, best_path, f"{recipe.metric} {trial.value:.4f}")
    rows = trial_rows(study)
    write_text(out / TRIALS_CSV, trials_csv(rows))
    plot_trials(rows, recipe.metric, out / TRIALS_PLOT)
    return TuneResult(
        output_dir=str(out),
        metric=recipe.metric,
        direction=direction(recipe),
        best_value=float(trial.value),
        best_params=dict(trial.params),
        best_trial=trial.number,
        best_recipe=str(best_path),
        trials=rows,
        resumed_trials=resumed,
    )


def write_best_recipe(recipe: Recipe, params: dict[str, Any], path: Path, score: str) -> Recipe:
    """The recipe with the best values and no search block, validated, then written."""
    from nlpkit.recipe.schema import validate_recipe
    from nlpkit.recipe.search import with_values

    best = validate_recipe(with_values(recipe.resolved(), params))
    values = ", ".join(f"{key}={value}" for key, value in params.items())
    head = f"# nlpkit tune: the best trial ({score}): {values}\n# Run it: nlpkit finetune {path}\n"
    text = best.to_yaml().replace("search: null\n", "")
    write_text(path, head + text)
    return best


def trial_rows(study) -> list[dict[str, Any]]:
    return [
        {
            "trial": t.number,
            "state": t.state.name.lower(),
            "value": t.value,
            "seconds": round(t.duration.total_seconds(), 1) if t.duration else None,
            "last_step": max(t.intermediate_values, default=None),
            **t.params,
        }
        for t in study.get_trials(deepcopy=False)
    ]


def trials_csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def trial_points(rows: list[dict[str, Any]], metric: str) -> dict[str, list]:
    """What trials.png draws, with trials numbered 1..N as the CLI counts them (Optuna's
    numbers start at 0): x and value of each completed trial, the best so far at each, and
    the x of each pruned trial."""
    pick = min if metric in LOWER_IS_BETTER else max
    done = [(r["trial"] + 1, r["value"]) for r in rows if r["state"] == "complete"]
    best = [pick(value for _, value in done[: i + 1]) for i in range(len(done))]
    return {
        "x": [n for n, _ in done],
        "value": [value for _, value in done],
        "best": best,
        "pruned": [r["trial"] + 1 for r in rows if r["state"] == "pruned"],
    }


def plot_trials(rows: list[dict[str, Any]], metric: str, path: Path) -> None:
    """The objective of each finished trial, and the best so far, against the trial number."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    points = trial_points(rows, metric)
    figure, axis = plt.subplots(figsize=(6, 3.6))
    if points["x"]:
        axis.plot(points["x"], points["value"], "o", label="trial")
        axis.step(points["x"], points["best"], where="post", label="best so far")
    for number in points["pruned"]:
        axis.axvline(number, color="tab:gray", alpha=0.3)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial 2, never trial 1.5
    axis.set(xlabel="trial", ylabel=metric, title=f"search: {metric} per trial (grey: pruned)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
