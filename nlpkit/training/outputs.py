"""The run folder: overwrite protection, resume checks, checkpoints, the atomic final save.

Layout of ``output_dir``:

    config.json, model.safetensors, tokenizer files   the final model (merged if LoRA)
    adapter/                                         the LoRA adapter alone (LoRA runs)
    recipe.yaml                                      the fully resolved recipe
    metrics.json  train_log.jsonl  README.md  training_curves.png
    tensorboard/                                     event files (training.report_to: tensorboard)
    checkpoints/checkpoint-N/                        while training; removed on success
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from nlpkit.atomic import widen_to_umask, write_text
from nlpkit.errors import OutputError, TrainingError, UsageError
from nlpkit.recipe.schema import Recipe

RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.json"
LOG_FILE = "train_log.jsonl"
CURVES_FILE = "training_curves.png"
CARD_FILE = "README.md"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"
ADAPTER = "adapter"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# Keys that may change between an interrupted run and its --resume: they do not
# change which examples are seen, in what order, or how the weights are updated.
RESUME_SAFE = {
    "output_dir",
    "training.logging_steps",
    "training.save_total_limit",
    "training.eval_batch_size",
    "training.generation_max_length",
    "training.generation_num_beams",
    "training.early_stopping_patience",
    "training.early_stopping_threshold",
    "training.use_cpu",
    "training.report_to",
    "search",
    "data.max_eval_samples",
    "trust_remote_code",
    "allow_pickle",
}


def is_main_process() -> bool:
    """Under torchrun / accelerate launch only rank 0 touches the run folder."""
    return os.environ.get("RANK", "0") == "0"


def check_output_dir(recipe: Recipe, overwrite: bool, resume: bool) -> Path | None:
    """Refuse early, touching nothing; the checkpoint to resume from, if resuming.

    Resuming a run that already finished returns None: there is nothing to train.

    After this, with ``overwrite``, a non-empty output_dir holds an nlpkit run.
    """
    out = Path(recipe.output_dir)
    if overwrite and resume:
        raise UsageError("--overwrite starts over and --resume continues: pass only one")
    if not is_main_process() and not resume:
        return None
    if out.exists() and not out.is_dir():
        raise OutputError(f"output_dir {out}: is a file, expected a folder")
    if resume:
        check_contained(out)
        return _resume_point(out, recipe)
    _check_writable(out)
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise OutputError(
                f"output_dir {out} is not empty; pass --overwrite to replace it, --resume to "
                "continue its last checkpoint, or --set output_dir=NEW_FOLDER"
            )
        _check_is_run_folder(out)
    return None


def _check_writable(out: Path) -> None:
    """Fail before any work when output_dir cannot be created or written."""
    parent = out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".nlpkit-probe-"))
    except OSError as exc:
        raise OutputError(
            f"output_dir {out}: cannot write there ({exc.strerror}); choose another output_dir"
        ) from None


def check_contained(out: Path) -> None:
    """Refuse a run folder whose entries lead outside it: a run writes only inside output_dir."""
    if not out.is_dir():
        return
    root = out.resolve()
    names = (RECIPE_FILE, METRICS_FILE, LOG_FILE, CURVES_FILE, CARD_FILE, CHECKPOINTS, ADAPTER)
    entries = [out / name for name in names] + list(out.iterdir())
    checkpoints = out / CHECKPOINTS
    if checkpoints.is_dir() and checkpoints.resolve().is_relative_to(root):
        entries += list(checkpoints.iterdir())
    for entry in entries:
        if entry.is_symlink() and not entry.resolve().is_relative_to(root):
            raise OutputError(
                f"output_dir {out}: {entry.relative_to(out)} links outside it "
                f"(to {entry.resolve()}); nlpkit writes only inside output_dir: remove the link"
            )


def start_run_folder(recipe: Recipe, resume: bool) -> None:
    """Empty ``output_dir`` (check_output_dir allowed it) and save the resolved recipe."""
    out = Path(recipe.output_dir)
    if resume or not is_main_process():
        return
    if out.is_dir():
        for entry in out.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"output_dir {out}: cannot create it ({exc.strerror})") from None
    write_text(out / RECIPE_FILE, recipe.to_yaml())


def _check_is_run_folder(out: Path) -> None:
    """--overwrite deletes only what looks like an nlpkit run, never an arbitrary folder."""
    if any(out.iterdir()) and not (out / RECIPE_FILE).is_file():
        raise OutputError(
            f"--overwrite refused: {out} has no {RECIPE_FILE}, so it is not an nlpkit run folder; "
            "empty it yourself or choose another output_dir"
        )


def _resume_point(out: Path, recipe: Recipe) -> Path | None:
    """The last checkpoint; None when the run already finished (its metrics.json is written).

    Either way the recipe must not have changed since the run started.
    """
    if not (out / RECIPE_FILE).is_file():
        raise TrainingError(
            f"--resume: {out} holds no nlpkit run ({RECIPE_FILE} missing); run without --resume"
        )
    check_resumable(out, recipe)
    checkpoint = last_checkpoint(out / CHECKPOINTS)
    if checkpoint is not None:
        return checkpoint
    if (out / METRICS_FILE).is_file():
        return None
    raise TrainingError(
        f"--resume: no checkpoint in {out / CHECKPOINTS} yet (the run stopped before its first "
        "save); start again with --overwrite"
    )


def last_checkpoint(folder: Path) -> Path | None:
    """The highest complete checkpoint-N (one with trainer_state.json, written last)."""
    if not folder.is_dir():
        return None
    steps = []
    for entry in folder.iterdir():
        match = _CHECKPOINT.match(entry.name)
        if match and (entry / "trainer_state.json").is_file():
            steps.append((int(match.group(1)), entry))
    return max(steps)[1] if steps else None


def checkpoint_step(checkpoint: Path) -> int:
    return int(checkpoint.name.rsplit("-", 1)[1])


def check_resumable(out: Path, recipe: Recipe) -> None:
    """Refuse to resume when the recipe changed in a way that would mix two runs."""
    saved = yaml.safe_load((out / RECIPE_FILE).read_text(encoding="utf-8")) or {}
    before, now = _flatten(saved), _flatten(recipe.resolved())
    changed = [
        f"{key}: {before.get(key)!r} -> {now.get(key)!r}"
        for key in sorted(set(before) | set(now))
        if before.get(key) != now.get(key) and key not in RESUME_SAFE
    ]
    if changed:
        raise TrainingError(
            f"cannot resume {out}: the recipe changed since the run started ("
            + "; ".join(changed)
            + "). Resuming would mix two different runs: restore those values "
            "(edit the recipe or use --set) or start over with --overwrite"
        )


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        else:
            flat[name] = value
    return flat


def save_final_model(model: Any, tokenizer: Any, out: Path, lora: bool) -> Path | None:
    """Save into a temp folder, then rename into ``out`` with config.json last.

    A folder with config.json therefore always holds complete weights: an
    interrupted save leaves no half-written model. Returns the adapter folder.
    """
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".saving-"))
    try:
        if lora:
            model.save_pretrained(staging / ADAPTER)
            model = model.merge_and_unload()
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        widen_to_umask(staging)
        entries = sorted(staging.iterdir(), key=lambda entry: entry.name == "config.json")
        for entry in entries:
            target = out / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(entry, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / ADAPTER if lora else None


def truncate_log(path: Path, step: int) -> None:
    """On resume, drop log lines written after the checkpoint we restart from."""
    if not path.exists() or not is_main_process():
        return
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line).get("step", 0) <= step
    ]
    write_text(path, "".join(line + "\n" for line in kept))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=float) + "\n")


def remove_checkpoints(out: Path) -> None:
    shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
