"""Export a model to ONNX, quantize it, gate both against PyTorch, publish the folder.

What is exported and how predictions are scored belong to the task (its pieces'
``prepare_onnx``); the folder handling here is shared. The folder is written whole or
not at all (a hidden folder renamed into place), so a crash mid-export never leaves a
half model that ``auto`` would pick up.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nlpkit.atomic import temp_dir_beside, widen_to_umask
from nlpkit.errors import NlpkitError, OutputError
from nlpkit.models.backends import FP32_FILE, ONNX_FOLDER, REPORT_FILE, export
from nlpkit.models.backends.export import Int8Recipe, export_classifier
from nlpkit.models.backends.gate import ACCURACY, GateData, GateMetric, run_gate
from nlpkit.models.builtin import Builtin
from nlpkit.models.store import entry_lock

PARTIAL_PREFIX = ".partial-"
logger = logging.getLogger(__name__)


def export_gated(
    write: Callable[[Path], Any],
    target: Path,
    data: GateData,
    reference: Callable[[], list],
    predict: Callable[[Any], list],
    int8: bool = True,
    recipes: Sequence[Int8Recipe] | None = None,
    metric: GateMetric = ACCURACY,
) -> dict:
    """``write(folder)`` the fp32 export (``model.onnx`` and what loads it) into a hidden
    folder, gate fp32 and int8 on ``data`` (``reference()``: PyTorch's predictions;
    ``predict(runner)``: an export's, over an ONNX Runtime runner with the threads the
    data's size calls for), save the chosen graph as optimized on this CPU, and publish
    it as ``target``; returns the gate's report."""
    from nlpkit.devices import onnx_threads
    from nlpkit.models.backends.onnx import open_runner

    threads = onnx_threads(None, len(data.texts))

    def predict_file(path: Path) -> list:
        return predict(open_runner(path, threads))

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = temp_dir_beside(target.parent, f"{PARTIAL_PREFIX}{target.name}-")
    except OSError as exc:
        raise OutputError(f"{target}: cannot write there ({exc.strerror})") from None
    try:
        write(partial)
        recipes = export.INT8_RECIPES if recipes is None else recipes
        report = run_gate(partial, data, reference(), predict_file, int8, recipes, metric)
        if report["chosen"]:
            _save_optimized(partial / report["chosen"])
        widen_to_umask(partial)
        publish(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return report


def write_classifier(loaded: Any, outputs: Sequence[str] = ("logits",)) -> Callable[[Path], Any]:
    """The ``write`` of ``export_gated`` for a model with a head (``outputs`` in order)."""
    return lambda folder: export_classifier(
        loaded.model, loaded.tokenizer, folder, FP32_FILE, outputs
    )


def _save_optimized(path: Path) -> None:
    """The chosen file's graph as optimized on this CPU, so a one-sentence command loads it
    without optimizing; without it a session optimizes at load (slower, same labels)."""
    from nlpkit.models.backends.onnx import save_optimized

    try:
        save_optimized(path)
    except Exception as exc:  # onnxruntime raises its own types; the model still works
        logger.debug("cannot save the optimized graph of %s: %s", path, exc)


def ignore_progress(_count: int) -> None:
    """Progress of the gate's own passes: not the user's texts, not shown."""


def publish(partial: Path, target: Path) -> None:
    """Rename the finished folder onto ``target``; an older export is moved aside first."""
    if target.exists():
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        os.replace(target, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(partial, target)


def prepare_builtin(builtin: Builtin, folder: Path) -> None:
    """A built-in model's ONNX export, int8 if it passes the gate on the labelled data it
    ships with, made once in its store entry; a failure leaves PyTorch in charge, with a
    warning."""
    from nlpkit.tasks.pieces import pieces_of

    target = folder / ONNX_FOLDER
    if not getattr(builtin, "prepares_onnx", False) or (target / REPORT_FILE).is_file():
        return
    with entry_lock(folder.name):  # concurrent first uses wait for one export
        if (target / REPORT_FILE).is_file():
            return  # another process made it while this one waited
        for leftover in folder.glob(f"{PARTIAL_PREFIX}{ONNX_FOLDER}-*"):  # a killed export's
            shutil.rmtree(leftover, ignore_errors=True)
        logger.info(
            "preparing ONNX Runtime for the built-in model '%s', once (int8 if it passes "
            "the accuracy gate; a minute or two): %s",
            builtin.name,
            target,
        )
        pieces = pieces_of(builtin.task)
        try:
            data = pieces.builtin_gate_data(builtin.folder / builtin.gate_data)
            pieces.prepare_onnx(builtin.name, target, data)
        except (NlpkitError, OSError) as exc:
            logger.warning("ONNX export of '%s' failed, PyTorch answers: %s", builtin.name, exc)
