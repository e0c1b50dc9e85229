"""Device and dtype decisions, made through accelerate so CLI and Trainer agree.

``auto`` means the best accelerator accelerate can see (CUDA, then MPS, ...),
else the CPU; an explicit device that this machine lacks is a DeviceError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nlpkit.errors import DeviceError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N, mps"
DTYPE_CHOICES = ("auto", "float32", "float16", "bfloat16")
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(device: str) -> str:
    """Validate the spelling only (cheap; no torch import)."""
    if not _DEVICE_PATTERN.match(device):
        raise DeviceError(f"unknown device '{device}'; use one of {DEVICE_CHOICES}")
    return device


def check_device_map(device_map: str | None, device: str = "auto") -> str | None:
    """A transformers/accelerate ``device_map`` strategy; it replaces ``device``."""
    if device_map is None:
        return None
    if device_map not in DEVICE_MAPS:
        raise DeviceError(f"unknown device map '{device_map}'; use one of {', '.join(DEVICE_MAPS)}")
    if device != "auto":
        raise DeviceError(
            f"--device {device} and --device-map {device_map}: pass one; the map places the model"
        )
    return device_map


def resolve_device(device: str = "auto"):
    """A torch.device for ``device``, after checking this machine has it."""
    import torch

    check_device_name(device)
    if device == "auto":
        from accelerate import PartialState

        return PartialState().device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device '{device}' asked for, but no CUDA GPU is available here; "
                "use --device cpu or --device auto"
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"device '{device}' asked for, but only {torch.cuda.device_count()} GPU(s) exist"
            )
    if device == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("device 'mps' asked for, but MPS is not available; use --device cpu")
    return torch.device(device)


PRECISIONS = ("fp32", "fp16", "bf16")
_PRECISION_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


@dataclass(frozen=True)
class DeviceKind:
    """What precision depends on: the device type and whether it computes in bf16."""

    type: str  # cpu, cuda, mps
    bf16: bool = False


def detect_kind(use_cpu: bool = False, device=None) -> DeviceKind:
    """The kind of ``device`` (default: the best one here, or the CPU with ``use_cpu``)."""
    import torch

    if device is None:
        cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
        name = "cpu" if use_cpu else "cuda" if cuda else "mps" if mps else "cpu"
    else:
        name = torch.device(device).type
    if name == "cuda":
        return DeviceKind("cuda", bool(torch.cuda.is_bf16_supported()))
    return DeviceKind(name, name in ("cpu", "mps"))


def choose_precision(requested: str, kind: DeviceKind) -> str:
    """fp32 / fp16 / bf16: the one decision for training and inference.

    ``auto`` is bf16 on a GPU that supports it, fp16 on other GPUs and on MPS
    (accelerate runs fp16 autocast there), fp32 on the CPU, where half precision
    is slower than fp32 on most processors. An explicit choice is checked.
    """
    if requested == "auto":
        if kind.type == "cuda":
            return "bf16" if kind.bf16 else "fp16"
        return "fp16" if kind.type == "mps" else "fp32"
    if requested not in PRECISIONS:
        raise DeviceError(f"unknown precision '{requested}'; use auto, {', '.join(PRECISIONS)}")
    if requested == "fp16" and kind.type == "cpu":
        raise DeviceError("precision fp16 needs a GPU (CUDA or MPS); use bf16 or fp32 on the CPU")
    if requested == "bf16" and not kind.bf16:
        raise DeviceError("precision bf16 is not supported by this GPU; use fp16 or fp32")
    return requested


def resolve_dtype(dtype: str, device) -> object:
    """A torch dtype; ``auto`` is bf16 on GPUs that support it, fp16 on others, fp32 on CPU."""
    import torch

    if dtype not in DTYPE_CHOICES:
        raise DeviceError(f"unknown dtype '{dtype}'; use one of {', '.join(DTYPE_CHOICES)}")
    if dtype != "auto":
        return getattr(torch, dtype)
    return getattr(torch, _PRECISION_DTYPES[choose_precision("auto", detect_kind(device=device))])


def describe_devices() -> dict[str, object]:
    """Devices this machine offers, for `nlpkit env`."""
    import torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "cuda_available": torch.cuda.is_available(),
        "gpus": gpus,
        "mps_available": torch.backends.mps.is_available(),
        "cpu_threads": torch.get_num_threads(),
        "auto_device": str(resolve_device("auto")),
    }
