"""Experiment tracking through the Trainer's own integrations (`training.report_to`).

TensorBoard writes its event files into the run folder (``tensorboard/``); MLflow
logs the Trainer's parameters and metrics where ``MLFLOW_TRACKING_URI`` points
(a local ``file:`` store works offline), and nlpkit adds the model card and
metrics.json to the same run as artifacts; W&B follows its own environment
variables (``WANDB_MODE=offline`` for no network), and nlpkit ends its run when
the fine-tune ends.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nlpkit.errors import DependencyError

TRACKER_PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb"}
TRACKER_INSTALL = {
    "tensorboard": 'pip install "nlpkit[tracking]"',
    "mlflow": 'pip install "nlpkit[tracking]"',
    "wandb": 'pip install "nlpkit[tracking]"',
}


def require_package(module: str, hint: str, param: str | None = None) -> None:
    """A DependencyError with the install hint when ``module`` is not installed."""
    if importlib.util.find_spec(module) is None:
        raise DependencyError(f"{module} is not installed; {hint}", param=param)


def check_trackers(report_to: list[str]) -> None:
    """Every tracker the recipe names is installed (checked before any model loads)."""
    for name in report_to:
        require_package(
            TRACKER_PACKAGES[name],
            f"training.report_to: {name} needs it: {TRACKER_INSTALL[name]}",
        )


def place_logs(trainer: Any, out: Path, folder: str) -> None:
    """TensorBoard's event files in the run folder, not in checkpoints/ (removed at the end);
    a TENSORBOARD_LOGGING_DIR set by the user wins."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and callback.logging_dir is None:
            callback.logging_dir = str(out / folder)


def mlflow_run_recorder():
    """A callback that remembers the MLflow run the Trainer's MLflowCallback started."""
    from transformers import TrainerCallback

    class MlflowRun(TrainerCallback):
        run_id: str | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            import mlflow

            active = mlflow.active_run()
            if state.is_world_process_zero and active is not None:
                self.run_id = active.info.run_id

    return MlflowRun()


def log_artifacts(run_id: str | None, files: list[Path]) -> None:
    """Attach files (the model card, metrics.json) to a finished MLflow run."""
    if run_id is None:
        return
    from mlflow import MlflowClient

    client = MlflowClient()
    for path in files:
        if path.is_file():
            client.log_artifact(run_id, str(path))


@contextlib.contextmanager
def wandb_run_closed(report_to: list[str]) -> Iterator[None]:
    """End the W&B run when a fine-tune ends, however it ends.

    The Trainer's W&B callback leaves its run open (W&B asks callers to finish runs):
    the run's summary would wait for the process to exit, and the next fine-tune in the
    same process (a tune trial, a notebook cell) would log into this run instead of its own.
    """
    try:
        yield
    finally:
        if "wandb" in report_to and "wandb" in sys.modules:
            import wandb

            if wandb.run is not None:
                wandb.finish()
