"""Export a classifier to ONNX, quantize it, gate both against PyTorch, publish the folder.

The folder is written whole or not at all (a hidden folder renamed into place), so a
crash mid-export never leaves a half model that ``auto`` would pick up.
"""

from __future__ import annotations

import csv
import gzip
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from nlpkit.atomic import temp_dir_beside, widen_to_umask
from nlpkit.devices import onnx_threads, use_threads
from nlpkit.errors import NlpkitError, OutputError
from nlpkit.models.backends import FP32_FILE, ONNX_FOLDER, REPORT_FILE, export
from nlpkit.models.backends.export import Int8Recipe, export_classifier
from nlpkit.models.backends.gate import GateData, run_gate
from nlpkit.models.builtin import Builtin, BuiltinAdapter, BuiltinModel
from nlpkit.models.load import load_model, quiet_libraries
from nlpkit.models.store import entry_lock
from nlpkit.tasks.scores import CLASSIFY_BATCH, best_ids, onnx_scores, torch_scores

BUILTIN_GATE_DATA = "sst2-validation.tsv.gz"
PARTIAL_PREFIX = ".partial-"
logger = logging.getLogger(__name__)


@quiet_libraries()
def prepare_onnx(
    name: str,
    target: Path,
    data: GateData,
    int8: bool = True,
    recipes: Sequence[Int8Recipe] | None = None,
) -> dict:
    """Export model ``name`` to ``target`` (an ONNX folder), gate it on ``data``, and
    return the gate's report (also in ``target/report.json``). ``recipes``: the int8
    recipes to try (default: export.INT8_RECIPES)."""
    loaded = load_model("sequence", name, "cpu", "float32")
    use_threads(None)
    threads = onnx_threads(None, len(data.texts))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = temp_dir_beside(target.parent, f"{PARTIAL_PREFIX}{target.name}-")
    except OSError as exc:
        raise OutputError(f"{target}: cannot write there ({exc.strerror})") from None
    try:
        export_classifier(loaded.model, loaded.tokenizer, partial, FP32_FILE)
        # int8 scales activations per batch: the gate scores batches as classify makes them
        reference = best_ids(torch_scores(loaded, data.texts, CLASSIFY_BATCH, _ignore))

        def predict(path: Path) -> list[int]:
            from nlpkit.models.backends.onnx import open_runner

            runner = open_runner(path, threads)
            return best_ids(onnx_scores(runner, data.texts, CLASSIFY_BATCH, _ignore))

        recipes = export.INT8_RECIPES if recipes is None else recipes
        report = run_gate(partial, data, reference, predict, int8, recipes)
        if report["chosen"]:
            _save_optimized(partial / report["chosen"])
        widen_to_umask(partial)
        publish(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return report


def _save_optimized(path: Path) -> None:
    """The chosen file's graph as optimized on this CPU, so a one-sentence command loads it
    without optimizing; without it a session optimizes at load (slower, same labels)."""
    from nlpkit.models.backends.onnx import save_optimized

    try:
        save_optimized(path)
    except Exception as exc:  # onnxruntime raises its own types; the model still works
        logger.debug("cannot save the optimized graph of %s: %s", path, exc)


def _ignore(_count: int) -> None:
    """Progress of the gate's own passes: not the user's texts, not shown."""


def publish(partial: Path, target: Path) -> None:
    """Rename the finished folder onto ``target``; an older export is moved aside first."""
    if target.exists():
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        os.replace(target, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(partial, target)


def builtin_gate_data(builtin: BuiltinAdapter | BuiltinModel) -> GateData:
    """SST-2 dev, shipped with the built-in sentiment model (872 labelled sentences)."""
    path = Path(getattr(builtin, "folder", "")) / BUILTIN_GATE_DATA
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    texts = [row["sentence"] for row in rows]
    return GateData(texts, [int(row["label"]) for row in rows], "SST-2 dev (shipped with nlpkit)")


def prepare_builtin(
    builtin: Builtin, folder: Path, prepare: Callable[[str, Path], dict] | None = None
) -> None:
    """The built-in model's ONNX export, int8 if it passes the gate, made once in its
    store entry by ``prepare(name, target)`` (default: the classifier's, gated on the data
    it ships); a failure leaves PyTorch in charge, with a warning."""
    target = folder / ONNX_FOLDER
    if (prepare is None and builtin.task != "classify") or (target / REPORT_FILE).is_file():
        return
    if prepare is None:
        prepare = lambda name, path: prepare_onnx(name, path, builtin_gate_data(builtin))  # noqa: E731
    with entry_lock(folder.name):  # concurrent first uses wait for one export
        if (target / REPORT_FILE).is_file():
            return  # another process made it while this one waited
        for leftover in folder.glob(f"{PARTIAL_PREFIX}{ONNX_FOLDER}-*"):  # a killed export's
            shutil.rmtree(leftover, ignore_errors=True)
        logger.info(
            "preparing ONNX Runtime for the built-in model '%s', once (int8 if it passes "
            "the accuracy gate; under a minute): %s",
            builtin.name,
            target,
        )
        try:
            prepare(builtin.name, target)
        except (NlpkitError, OSError) as exc:
            logger.warning("ONNX export of '%s' failed, PyTorch answers: %s", builtin.name, exc)
