"""Trainer callbacks: training progress as TrainEvents for a reporter to render (the
CLI draws a live bar or plain lines), and a JSON-lines training log."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from transformers import TrainerCallback

EventKind = Literal["start", "step", "log", "eval", "end", "message"]


@dataclass(frozen=True)
class TrainEvent:
    """One thing a run reports. ``start``/``end`` bracket training; ``step`` follows each
    optimizer step; ``log`` a logging step (with ``loss``); ``eval`` an evaluation
    (``metrics`` without the eval_ prefix, ``score`` the value of the recipe's ``metric``);
    ``message`` a line of ``text`` (resuming, stopped). Times are in seconds."""

    kind: EventKind
    step: int = 0
    total: int = 0
    epoch: float = 0.0
    loss: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    metric: str = ""
    score: float | None = None
    elapsed: float = 0.0
    eta: float = 0.0
    text: str = ""


Reporter = Callable[[TrainEvent], None]


def metric_score(metric: str, logs: dict) -> float | None:
    """The recipe's metric in an eval log; perplexity comes from the eval loss."""
    score = logs.get(f"eval_{metric}")
    if score is None and metric == "perplexity" and "eval_loss" in logs:
        score = math.exp(min(logs["eval_loss"], 700))
    return score


def _shown_metrics(metrics: dict) -> dict[str, float]:
    """The eval metrics worth a line: scores and loss, not epoch, runtime or throughput."""
    return {
        key.removeprefix("eval_"): value
        for key, value in metrics.items()
        if isinstance(value, float)
        and key != "epoch"
        and not key.endswith(("_runtime", "_per_second"))
    }


class ReportProgress(TrainerCallback):
    """Turns the Trainer's events into TrainEvents for ``report`` (world process zero only)."""

    def __init__(self, report: Reporter, metric: str) -> None:
        self.report, self.metric = report, metric
        self.started: float | None = None
        self.first_step = 0

    def _event(self, kind: EventKind, state, **fields) -> None:
        step, total = state.global_step, state.max_steps
        elapsed = time.monotonic() - (self.started or 0.0)
        done = step - self.first_step
        eta = elapsed / done * (total - step) if done > 0 else 0.0
        where = {"step": step, "total": total, "epoch": state.epoch or 0.0, "metric": self.metric}
        self.report(TrainEvent(kind, **where, elapsed=elapsed, eta=eta, **fields))

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.started, self.first_step = time.monotonic(), state.global_step
            self._event("start", state)

    def on_step_end(self, args, state, control, **kwargs):
        if self.started is not None:
            self._event("step", state)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.started is not None and logs and "loss" in logs:
            self._event("log", state, loss=logs["loss"])

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.started is not None and metrics:
            shown, score = _shown_metrics(metrics), metric_score(self.metric, metrics)
            self._event("eval", state, metrics=shown, score=score)

    def on_train_end(self, args, state, control, **kwargs):
        if self.started is not None:
            self._event("end", state)
            self.started = None  # the final evaluation after training is the result's


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
