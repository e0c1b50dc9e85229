"""Trainer callbacks: progress on stderr (a live rich bar on a terminal, plain lines in a
file or pipe) and a JSON-lines training log."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback


def _score(metric: str, logs: dict) -> float | None:
    """The recipe's metric in an eval log; perplexity comes from the eval loss."""
    score = logs.get(f"eval_{metric}")
    if score is None and metric == "perplexity" and "eval_loss" in logs:
        score = math.exp(min(logs["eval_loss"], 700))
    return score


def _eval_line(step: int, metrics: dict) -> str:
    shown = ", ".join(
        f"{key.removeprefix('eval_')} {value:.4f}"
        for key, value in metrics.items()
        if isinstance(value, float)
        and key != "epoch"
        and not key.endswith(("_runtime", "_per_second"))
    )
    return f"eval at step {step}: {shown}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


class PlainProgress(TrainerCallback):
    """One line per logging step, for a log file or a pipe (`nohup nlpkit finetune ... > log`):
    ``step 2/6 (33%) | epoch 0.33 | loss 0.6931 | elapsed 0:00:03 | ETA 0:00:06``."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.started: float | None = None
        self.first_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.started, self.first_step = time.monotonic(), state.global_step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.started is None or not logs or "loss" not in logs:
            return
        step, total = state.global_step, state.max_steps
        elapsed = time.monotonic() - self.started
        done = step - self.first_step
        eta = elapsed / done * (total - step) if done > 0 else 0.0
        percent = f" ({step / total:.0%})" if total else ""
        parts = [f"step {step}/{total}{percent}", f"epoch {state.epoch or 0:.2f}"]
        parts += [f"loss {logs['loss']:.4f}", f"elapsed {_clock(elapsed)}", f"ETA {_clock(eta)}"]
        print("train " + " | ".join(parts), file=sys.stderr, flush=True)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.started is not None and metrics:
            print(_eval_line(state.global_step, metrics), file=sys.stderr, flush=True)


class RichProgress(TrainerCallback):
    """step / total, epoch, last loss, last eval metric and ETA, instead of tqdm lines.

    When stderr is not a terminal (a log file, a pipe), it hands over to PlainProgress:
    a live bar there would write nothing readable until the run ends.
    """

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.progress: Any = None
        self.task: Any = None
        self.plain: PlainProgress | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        if not sys.stderr.isatty():
            self.plain = PlainProgress(self.metric)
            self.plain.on_train_begin(args, state, control, **kwargs)
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.progress import TimeRemainingColumn as Remaining

        self.progress = Progress(
            TextColumn("[bold]train[/]"),
            BarColumn(bar_width=20),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("epoch {task.fields[epoch]:.2f}"),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn(f"{self.metric} {{task.fields[score]}}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            Remaining(),
            console=Console(stderr=True),
        )
        self.progress.start()
        self.task = self.progress.add_task(
            "train",
            total=state.max_steps,
            completed=state.global_step,
            epoch=state.epoch or 0.0,
            loss="-",
            score="-",
        )

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step, epoch=state.epoch or 0.0)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.plain is not None:
            self.plain.on_log(args, state, control, logs=logs, **kwargs)
        if self.progress is None or not logs:
            return
        if "loss" in logs:
            self.progress.update(self.task, loss=f"{logs['loss']:.4f}")
        score = _score(self.metric, logs)
        if score is not None:
            self.progress.update(self.task, score=f"{score:.4f}")

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.plain is not None:
            self.plain.on_evaluate(args, state, control, metrics=metrics, **kwargs)
        if self.progress is None or not metrics:
            return
        self.progress.console.print(_eval_line(state.global_step, metrics))

    def on_train_end(self, args, state, control, **kwargs):
        self.plain = None
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class JsonlLog(TrainerCallback):
    """Appends every Trainer log (loss, learning rate, eval metrics) as one JSON line."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": state.global_step, **logs}
        row["time"] = round(time.time(), 3)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, default=float) + "\n")
