"""Which file a task runs for a model: an ONNX export that passed the gate, or PyTorch.

Shared by every task with an ONNX backend; imports nothing heavy (the one-sentence
command's path).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from nlpkit.errors import ModelLoadError, UsageError
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


Backend = TypeVar("Backend")


def open_backend(
    name: str,
    loader: str,
    backend: str,
    device: str,
    dtype: str,
    device_map: str | None,
    threads: int | None,
    count: int,
    onnx: Callable[[Any], Backend],
    torch: Callable[[Any], Backend],
    check_head: Callable[[list[str]], None],
) -> Backend:
    """The task's backend over an ONNX Runtime session or a loaded transformers model.

    ``check_head`` sees the model's architectures before anything is loaded: a model
    with the wrong head would answer with a random new one.
    """
    onnx_file = onnx_model_file(name, backend, device, device_map)
    if onnx_file is not None:
        from nlpkit.models.backends.onnx import load_onnx

        runner = load_onnx(onnx_file, threads, count)
        check_head(runner.config.get("architectures") or [])
        return onnx(runner)
    from nlpkit.devices import use_threads
    from nlpkit.models.load import load_model, model_config

    check_head(getattr(model_config(name), "architectures", None) or [])
    loaded = load_model(loader, name, device, dtype, device_map=device_map)
    use_threads(threads)
    return torch(loaded)


def fast_tokenizer(name: str, command: str, loaded: Any) -> Any:
    """The ``tokenizers`` Tokenizer of a loaded model: its character offsets are what
    span tasks report, and only a fast tokenizer has them."""
    if not getattr(loaded.tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"model '{name}' has only a slow tokenizer; {command} needs a fast one "
            "(tokenizer.json) for character offsets"
        )
    return loaded.tokenizer.backend_tokenizer
