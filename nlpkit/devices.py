"""Device and dtype decisions, made through accelerate so CLI and Trainer agree.

``auto`` means the best accelerator accelerate can see (CUDA, then MPS, ...),
else the CPU; an explicit device that this machine lacks is a DeviceError.
"""

from __future__ import annotations

import os
import re
import time
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
            f"device={device!r} and device_map={device_map!r}: pass one; the map places the model",
            param=("device", "device_map"),
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
                "use device='cpu' or device='auto'",
                param="device",
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"device '{device}' asked for, but only {torch.cuda.device_count()} GPU(s) exist"
            )
    if device == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(
            "device 'mps' asked for, but MPS is not available; use device='cpu'", param="device"
        )
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


THREADS_ENV = "OMP_NUM_THREADS"
BUSY_SAMPLE_S = 0.1  # long enough for /proc/stat's 10 ms ticks to count busy cores
THREADS_RECHECK_S = 60.0
_threads_state: dict[str, float] = {}


def use_threads(threads: int | None = None) -> int:
    """Set torch's CPU threads for this process and return the number.

    ``threads`` wins; else an OMP_NUM_THREADS the user exported; else
    default_threads(), rechecked at most once a minute. On a CPU shared with a
    busy process, torch's default (every core) stalls each operation on the
    core the other process holds: ``generate`` ran 9x slower (bench/threads.py).
    """
    import torch

    if threads is not None and threads < 1:
        raise DeviceError(f"threads must be at least 1, got {threads}", param="threads")
    if "torch_default" not in _threads_state:
        _threads_state["torch_default"] = torch.get_num_threads()
    if threads is None and os.environ.get(THREADS_ENV, "").strip():
        return torch.get_num_threads()  # torch read it at import
    if threads is None:
        threads = _cached_default(int(_threads_state["torch_default"]))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


SMALL_WORK_TEXTS = 16


def onnx_threads(threads: int | None, texts: int) -> int:
    """CPU threads for an ONNX Runtime session (no torch import).

    ``threads`` wins, then OMP_NUM_THREADS; a few texts get one thread (too little work
    to split, and no 0.1 s /proc/stat sample on the one-sentence path); more texts get
    default_threads(), as torch does.
    """
    if threads is not None:
        if threads < 1:
            raise DeviceError(f"threads must be at least 1, got {threads}", param="threads")
        return threads
    exported = os.environ.get(THREADS_ENV, "").strip()
    if exported.isdigit() and int(exported) > 0:
        return int(exported)
    return 1 if texts <= SMALL_WORK_TEXTS else _cached_default(cpu_cores())


def _cached_default(most: int) -> int:
    now = time.monotonic()
    if now - _threads_state.get("checked_at", -THREADS_RECHECK_S) >= THREADS_RECHECK_S:
        _threads_state["default"] = default_threads(most)
        _threads_state["checked_at"] = now
    return int(_threads_state["default"])


def default_threads(most: int | None = None) -> int:
    """The cores this process may use, less those other processes keep busy (at least 1,
    at most ``most``, torch's own default)."""
    free = max(1, cpu_cores() - round(busy_cores()))
    return min(free, most) if most else free


def cpu_cores() -> int:
    """The cores this process may run on (its affinity, e.g. under taskset or a container)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1


def busy_cores(sample_s: float = BUSY_SAMPLE_S) -> float:
    """How many cores other processes keep busy now: /proc/stat over a short sample, less
    this process's own use; elsewhere the 1-minute load average."""
    try:
        before, own_before, start = _cpu_ticks(), _own_seconds(), time.monotonic()
        time.sleep(sample_s)
        after, own_after, elapsed = _cpu_ticks(), _own_seconds(), time.monotonic() - start
    except OSError:
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    busy = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
    total = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
    if total <= 0:
        return 0.0
    cores_busy = busy / total * len(after)
    return max(0.0, cores_busy - (own_after - own_before) / elapsed)


def _cpu_ticks() -> list[tuple[int, int]]:
    """(busy, total) ticks of each core this process may run on, from /proc/stat."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    rows = []
    with open("/proc/stat", encoding="ascii") as handle:
        for line in handle:
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            if allowed is not None and int(name[3:]) not in allowed:
                continue
            ticks = [int(value) for value in fields[:8]]
            idle = ticks[3] + ticks[4]  # idle + iowait
            rows.append((sum(ticks) - idle, sum(ticks)))
    return rows


def _own_seconds() -> float:
    times = os.times()
    return times.user + times.system
