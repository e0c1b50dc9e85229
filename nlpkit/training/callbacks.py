"""Trainer callbacks: a live rich progress line on stderr and a JSON-lines training log."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback


class RichProgress(TrainerCallback):
    """step / total, epoch, last loss, last eval metric and ETA, instead of tqdm lines."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.progress: Any = None
        self.task: Any = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
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
        if self.progress is None or not logs:
            return
        if "loss" in logs:
            self.progress.update(self.task, loss=f"{logs['loss']:.4f}")
        score = logs.get(f"eval_{self.metric}")
        if score is None and self.metric == "perplexity" and "eval_loss" in logs:
            score = math.exp(min(logs["eval_loss"], 700))
        if score is not None:
            self.progress.update(self.task, score=f"{score:.4f}")

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.progress is None or not metrics:
            return
        shown = ", ".join(
            f"{key.removeprefix('eval_')} {value:.4f}"
            for key, value in metrics.items()
            if isinstance(value, float)
            and key != "epoch"
            and not key.endswith(("_runtime", "_per_second"))
        )
        self.progress.console.print(f"eval at step {state.global_step}: {shown}")

    def on_train_end(self, args, state, control, **kwargs):
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
