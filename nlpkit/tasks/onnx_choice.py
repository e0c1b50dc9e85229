"""Which file a task runs for a model: an ONNX export that passed the gate, or PyTorch.

Shared by every task with an ONNX backend; imports nothing heavy (the one-sentence
command's path).
"""

from __future__ import annotations

from pathlib import Path

from nlpkit.errors import UsageError
from nlpkit.models.backends import onnx_available, onnx_folder, select_backend
from nlpkit.models.builtin import builtin_model
from nlpkit.models.resolve import resolve_model


def onnx_model_file(name: str, backend: str, device: str, device_map: str | None) -> Path | None:
    """The ONNX file ``backend`` runs for model ``name``, or None for PyTorch.

    ONNX runs on the CPU: a GPU device or a device map means PyTorch. The built-in
    model is exported (and gated) into the model store the first time it is asked for.
    """
    if backend != "torch" and (device not in ("auto", "cpu") or device_map):
        if backend == "onnx":
            raise UsageError("backend='onnx' runs on the CPU; use device='cpu'", param="backend")
        backend = "torch"
    if backend == "torch":
        return select_backend(None, backend, name)
    source = resolve_model(name)
    folder = source.path if source.is_local_folder else None
    builtin = builtin_model(name)
    if builtin and folder and onnx_available() and onnx_folder(folder) is None:
        from nlpkit.tasks.onnx_gate import prepare_builtin

        prepare_builtin(builtin, Path(folder))
    return select_backend(folder, backend, name)
