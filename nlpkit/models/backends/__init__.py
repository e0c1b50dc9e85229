"""Inference backends for classification: PyTorch (transformers) and ONNX Runtime.

`nlpkit optimize MODEL` exports a classifier to ONNX (``export.py``), quantizes it to
int8 when asked, and keeps each file only if it passes an accuracy gate
(``gate.py``) whose figures it writes to ``onnx/report.json``. A model folder with
such a report answers from ONNX Runtime through ``tokenizers`` and ``numpy``
(``onnx.py``): no torch or transformers import, so a one-sentence command takes
a fraction of a second instead of seconds.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from nlpkit.errors import DependencyError, UsageError

BACKENDS = ("auto", "torch", "onnx")
ONNX_FOLDER = "onnx"
REPORT_FILE = "report.json"
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
ONNX_HINT = 'pip install "nlpkit[onnx]"'


def onnx_available() -> bool:
    """onnxruntime (to run) is installed; found without importing it."""
    return importlib.util.find_spec("onnxruntime") is not None


def onnx_folder(model_folder: str | Path) -> Path | None:
    """The folder holding a model's gate report: the model folder itself (an `optimize
    --output` folder) or its ``onnx/`` subfolder; None when neither has one."""
    folder = Path(model_folder)
    for candidate in (folder, folder / ONNX_FOLDER):
        if (candidate / REPORT_FILE).is_file():
            return candidate
    return None


def read_report(folder: Path) -> dict:
    try:
        return json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def int8_summary(report: dict) -> str:
    """The int8 recipe the gate kept and the CPU it was gated on, for `nlpkit models`:
    ``recipe 2 (avx2)``."""
    number = report.get("int8_recipe")
    if not isinstance(number, int):
        return ""
    features = (report.get("cpu") or {}).get("features") or []
    return f"recipe {number} ({features[0] if features else 'cpu unknown'})"


def chosen_file(model_folder: str | Path) -> Path | None:
    """The ONNX file the gate kept for this model (int8 if it passed, else fp32), or None."""
    folder = onnx_folder(model_folder)
    if folder is None:
        return None
    chosen = read_report(folder).get("chosen")
    path = folder / chosen if isinstance(chosen, str) else None
    return path if path is not None and path.is_file() else None


def select_backend(model_folder: str | Path | None, backend: str, name: str) -> Path | None:
    """The ONNX file to run for ``backend`` (auto, torch, onnx), or None for PyTorch.

    ``auto`` takes a present, gate-passing ONNX model when onnxruntime is installed;
    ``onnx`` insists and says how to get one.
    """
    if backend not in BACKENDS:
        raise UsageError(
            f"unknown backend '{backend}'; use one of {', '.join(BACKENDS)}", param="backend"
        )
    if backend == "torch" or model_folder is None or not Path(model_folder).is_dir():
        if backend == "onnx":
            raise UsageError(
                f"model '{name}' has no ONNX export here; run `nlpkit optimize {name} --output "
                "DIR` and pass that folder as model=",
                param="backend",
            )
        return None
    chosen = chosen_file(model_folder)
    if backend == "auto":
        return chosen if onnx_available() else None
    if chosen is None:
        raise UsageError(
            f"model '{name}' has no ONNX model that passed the accuracy gate; "
            f"run `nlpkit optimize {name}` first",
            param="backend",
        )
    if not onnx_available():
        raise DependencyError(f"backend='onnx' needs onnxruntime: {ONNX_HINT}", param="backend")
    return chosen
