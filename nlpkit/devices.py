"""Device and dtype decisions, made through accelerate so CLI and Trainer agree.

``auto`` means the best accelerator accelerate can see (CUDA, then MPS, ...),
else the CPU; an explicit device that this machine lacks is a DeviceError.
"""

from __future__ import annotations

import re

from nlpkit.errors import DeviceError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N, mps"
DTYPE_CHOICES = ("auto", "float32", "float16", "bfloat16")
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(device: str) -> str:
    """Validate the spelling only (cheap; no torch import)."""
    if not _DEVICE_PATTERN.match(device):
        raise DeviceError(f"unknown device '{device}'; use one of {DEVICE_CHOICES}")
    return device


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


def resolve_dtype(dtype: str, device) -> object:
    """A torch dtype; ``auto`` is bf16 on GPUs that support it, fp16 on others, fp32 on CPU."""
    import torch

    if dtype not in DTYPE_CHOICES:
        raise DeviceError(f"unknown dtype '{dtype}'; use one of {', '.join(DTYPE_CHOICES)}")
    if dtype != "auto":
        return getattr(torch, dtype)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


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
