"""`nlpkit tune`: Optuna trials of the recipe's own run, a study that resumes, best.yaml."""

from __future__ import annotations

import csv
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from nlpkit.errors import RecipeError, UsageError
from tests.conftest import (
    ROOT,
    invoke,
    nlpkit_command,
    run_import_check,
    run_nlpkit,
    subprocess_env,
)
from tests.test_finetune import classification_data, data_dir, recipe_file  # noqa: F401

SEARCH = {
    "training.learning_rate": {"low": 1.0e-4, "high": 1.0e-2, "log": True},
    "training.batch_size": [4, 8],
}


def search_recipe(folder: Path, model: str, data: Path, steps: int = 4, **extra) -> Path:
    training = {"max_steps": steps, "eval_strategy": "steps", "eval_steps": 2}
    return recipe_file(
        folder,
        "text-classification",
        model,
        classification_data(data),
        training={**training, **extra.pop("training", {})},
        search=extra.pop("search", SEARCH),
        **extra,
    )


def test_three_trials_write_a_best_recipe_that_validates(tiny, data_dir, tmp_path):  # noqa: F811
    from nlpkit import load_recipe, tune

    events = []
    result = tune(search_recipe(tmp_path, tiny["bert"], data_dir), trials=3, report=events.append)
    out = tmp_path / "run-tune"
    assert result.output_dir == str(out) and result.metric == "accuracy"
    assert [row["state"] for row in result.trials] == ["complete"] * 3
    best = load_recipe(out / "best.yaml")  # validates, and `nlpkit finetune` runs it
    assert best.search is None and best.output_dir == str(tmp_path / "run")
    assert best.training.learning_rate == result.best_params["training.learning_rate"]
    assert best.training.batch_size == result.best_params["training.batch_size"]
    assert result.best_value == max(row["value"] for row in result.trials)
    with (out / "trials.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["trial"] for row in rows] == ["0", "1", "2"]
    assert {"state", "value", "training.learning_rate", "training.batch_size"} <= set(rows[0])
    assert (out / "trials.png").read_bytes()[:4] == b"\x89PNG"
    kept = [folder.name for folder in (out / "trials").iterdir()]
    assert kept == [f"trial-{result.best_trial}"]  # only the best trial's run stays
    trial_events = [e for e in events if type(e).__name__ == "TrialEvent"]
    assert [e.kind for e in trial_events] == ["start", "end"] * 3
    assert any(type(e).__name__ == "TrainEvent" and e.kind == "eval" for e in events)


def test_trials_plot_numbers_trials_from_one_as_the_cli_does(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from nlpkit.training.tune import plot_trials, trial_points

    rows = [
        {"trial": 0, "state": "complete", "value": 0.5},
        {"trial": 1, "state": "pruned", "value": None},
        {"trial": 2, "state": "complete", "value": 0.75},
    ]
    points = trial_points(rows, "accuracy")
    assert points == {"x": [1, 3], "value": [0.5, 0.75], "best": [0.5, 0.75], "pruned": [2]}
    drawn = []  # the x data of each line on the saved figure
    saved = Figure.savefig

    def savefig(figure, *args, **kwargs):
        drawn.extend(list(line.get_xdata()) for line in figure.axes[0].lines)
        saved(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    plot_trials(rows, "accuracy", tmp_path / "trials.png")
    assert drawn == [[1, 3], [1, 3], [2, 2]]  # trials, best so far, the pruned trial's line


def test_cli_tune_prints_trials_and_the_best_values(tiny, data_dir, tmp_path):  # noqa: F811
    path = search_recipe(tmp_path, tiny["bert"], data_dir)
    result = run_nlpkit("tune", str(path), "--trials", "2", "--output", str(tmp_path / "t"))
    assert result.returncode == 0, result.stderr
    assert "trial 1/2: training.learning_rate=" in result.stderr
    assert "best accuracy" in result.stdout and "best.yaml" in result.stdout
    again = run_nlpkit("finetune", str(tmp_path / "t" / "best.yaml"), "--overwrite")
    assert again.returncode == 0, again.stderr


def _trials(study_file: Path, *states: str) -> list:
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name="nlpkit-tune", storage=f"sqlite:///{study_file}")
    return study.get_trials(states=tuple(TrialState[state] for state in states))


def test_a_killed_search_resumes_without_redoing_finished_trials(
    tiny,
    data_dir,  # noqa: F811
    tmp_path,
):
    path = search_recipe(tmp_path, tiny["bert"], data_dir, steps=12)
    out = tmp_path / "run-tune"
    command = [*nlpkit_command(), "tune", str(path), "--trials", "4"]
    process = subprocess.Popen(
        command, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 240
    # Trial 1 begins once trial 0 has finished; its run folder appears as it starts
    # training. Kill at once: a tiny trial can finish within half a second, and a kill
    # after it would leave no running trial to resume.
    try:
        while not (out / "trials" / "trial-1").is_dir() and process.poll() is None:
            assert time.monotonic() < deadline, "no second trial started"
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        stderr = process.communicate()[1].decode()
    assert process.returncode == -signal.SIGKILL, stderr
    before = _trials(out / "study.db", "COMPLETE", "PRUNED")
    [interrupted] = _trials(out / "study.db", "RUNNING")
    assert 1 <= len(before) < 4 and not (out / "best.yaml").exists()

    result = run_nlpkit("tune", str(path), "--trials", "4", "-f", "json")
    assert result.returncode == 0, result.stderr
    after = _trials(out / "study.db", "COMPLETE", "PRUNED")
    assert len(after) == 4
    kept = {t.number: (t.params, t.value) for t in after}
    assert all(kept[t.number] == (t.params, t.value) for t in before)  # not trained again
    assert interrupted.params in [t.params for t in after]  # the killed trial, run again
    summary = yaml.safe_load(result.stdout)
    assert summary["resumed_trials"] == len(before)
    assert (out / "best.yaml").is_file()


def test_a_search_resumes_only_the_same_search(tiny, data_dir, tmp_path):  # noqa: F811
    from nlpkit import tune

    path = search_recipe(tmp_path, tiny["bert"], data_dir, steps=2)
    first = tune(path, trials=1)
    second = tune(path, trials=1)  # all trials done: nothing trains, the same answer
    assert second.resumed_trials == 1 and second.best_params == first.best_params
    other = {"search": {"training.learning_rate": [1e-3, 1e-2]}}
    with pytest.raises(UsageError, match="holds a search over other keys"):
        tune(path, trials=2, overrides=other)


def test_pruning_stops_a_trial_that_trails():
    from types import SimpleNamespace

    from nlpkit.training.tune import _pruning_callback

    class Trial:
        reports: list = []

        def report(self, value, step):
            self.reports.append((value, step))

        def should_prune(self):
            return len(self.reports) >= 2

    trial = Trial()
    callback = _pruning_callback(trial, "accuracy")
    state = SimpleNamespace(global_step=2, max_steps=6, is_world_process_zero=True)
    control = SimpleNamespace(should_training_stop=False)
    callback.on_evaluate(None, state, control, metrics={"eval_accuracy": 0.5})
    callback.on_evaluate(None, state, control, metrics={"eval_accuracy": 0.4})
    assert trial.reports == [(0.5, 2), (0.4, 2)]
    assert not control.should_training_stop  # the first half of a trial is never pruned
    state.global_step = 3
    callback.on_evaluate(None, state, control, metrics={"eval_accuracy": 0.4})
    assert control.should_training_stop and callback.pruned


def test_search_block_problems_name_the_key(tiny, data_dir, tmp_path):  # noqa: F811
    from nlpkit import load_recipe

    search = {
        "training.learning_rat": {"low": 1e-5, "high": 1e-3},
        "training.batch_size": [0, 16],
        "lora.r": [8, 16],
        "training.warmup_ratio": {"low": 0.2, "high": 0.1},
        "training": [1],
    }
    path = search_recipe(tmp_path, tiny["bert"], data_dir, search=search)
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    message = str(error.value)
    assert "training.learning_rat: unknown key" in message
    assert "did you mean training.learning_rate?" in message
    assert "search.training.batch_size: 0: expected greater than 0" in message
    assert "search.lora.r: the recipe has no lora section" in message
    assert "low (0.2) must be below high (0.1)" in message
    assert "training is a section" in message


def test_tune_needs_a_search_block(tiny, data_dir, tmp_path, capsys, monkeypatch):  # noqa: F811
    path = recipe_file(tmp_path, "text-classification", tiny["bert"], classification_data(data_dir))
    code, _, err = invoke(capsys, monkeypatch, "tune", str(path), "--trials", "2")
    assert code == 2 and "has no search: block" in err


def test_plan_shows_the_cost_of_a_search(tiny, data_dir, tmp_path):  # noqa: F811
    from nlpkit.training.plan import Machine, plan

    path = search_recipe(tmp_path, tiny["bert"], data_dir, training={"max_steps": None})
    result = plan(path, machine=Machine(cpu_cores=2), inspect_model=False)
    assert result.search_keys == list(SEARCH)
    rows = result.train_rows
    assert result.steps_per_trial == [-(-rows // 8) * 3, -(-rows // 4) * 3]  # 3 epochs
    from nlpkit.cli.plan import search_row

    line = search_row(result.search_keys, result.steps_per_trial)
    assert f"trials x {result.steps_per_trial[0]}-{result.steps_per_trial[1]} steps" in line


@pytest.mark.parametrize(
    "args",
    [["tune", "--help"], ["evaluate", "--help"], ["tune", "x.yaml", "--trials", "0"]],
)
def test_tune_and_evaluate_help_import_nothing_heavy(args):
    stderr = run_import_check(*args).stderr
    assert "HEAVY []" in stderr, stderr


def test_validating_a_recipe_with_search_and_metrics_imports_nothing_heavy(tmp_path):
    recipe = yaml.safe_load((ROOT / "recipes" / "sst2-minilm.yaml").read_text(encoding="utf-8"))
    recipe["metrics"] = ["f1", "accuracy"]
    recipe["training"]["metric_for_best_model"] = "f1"
    for key in ("train_file", "eval_file"):
        recipe["data"][key] = str(ROOT / "recipes" / recipe["data"][key])
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    stderr = run_import_check("recipe", "validate", str(path)).stderr
    assert "HEAVY []" in stderr and "error" not in stderr, stderr


def test_ctrl_c_in_a_trial_queues_its_values_again(tiny, data_dir, tmp_path, monkeypatch):  # noqa: F811
    from nlpkit import tune
    from nlpkit.training import run

    path = search_recipe(tmp_path, tiny["bert"], data_dir, steps=2)
    real, events = run.finetune, []

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "finetune", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune(path, trials=2, report=events.append)
    assert events[-1].state == "interrupted"
    monkeypatch.setattr(run, "finetune", real)
    result = tune(path, trials=2)
    assert [row["state"] for row in result.trials] == ["fail", "complete", "complete"]
    again = result.trials[1]  # the interrupted values, run first
    assert {key: again[key] for key in events[-1].params} == events[-1].params
