"""The CPU's int8 instructions, for the gate's report: which kernels ran the int8 model.

ONNX Runtime multiplies int8 matrices with the best instructions the CPU has: VNNI
(AVX-512 VNNI, AVX-VNNI) or AMX on recent x86 CPUs, the dot-product instructions on
ARM, and on x86 CPUs without VNNI (AVX2, AVX-512 before VNNI) an instruction that adds
products in 16 bits and can saturate. The report records what the CPU had, so a gate
result reads with the machine it came from.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# The flags that decide int8 kernels, as Linux names them (x86, then ARM).
INT8_FLAGS = (
    "amx_int8",
    "avx512_vnni",
    "avx_vnni",
    "avx512bw",
    "avx2",
    "asimddp",
    "i8mm",
    "sve",
)
VNNI_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")


def cpu_info(cpuinfo: Path = CPUINFO) -> dict:
    """``{"machine", "model", "features", "int8_kernel"}``: features are the INT8_FLAGS the
    CPU has (none where /proc/cpuinfo is missing: not Linux), int8_kernel its kind of int8
    matrix product (int8_kernel())."""
    fields = _first_fields(cpuinfo)
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    model = fields.get("model name") or fields.get("cpu model") or platform.processor()
    machine = platform.machine()
    features = [flag for flag in INT8_FLAGS if flag in flags]
    return {
        "machine": machine,
        "model": model or "unknown",
        "features": features,
        "int8_kernel": int8_kernel(machine, features) if flags else "unknown",
    }


@functools.cache
def this_int8_kernel() -> str:
    """int8_kernel() of the CPU this process runs on (read once)."""
    return cpu_info()["int8_kernel"]


def int8_kernel(machine: str, features: list[str]) -> str:
    """The kind of int8 matrix product ONNX Runtime runs here: ``vnni`` (u8 x s8 with VNNI
    or AMX), ``x86-no-vnni`` (16-bit sums that saturate, unless s8 weights are widened to
    u8, which nlpkit's sessions ask for), ``arm-dot`` (dot-product instructions) or
    ``generic``."""
    if machine.lower() in ("x86_64", "amd64", "i386", "i686"):
        return "vnni" if any(flag in features for flag in VNNI_FLAGS) else "x86-no-vnni"
    if "asimddp" in features or "i8mm" in features:
        return "arm-dot"
    return "generic"


def _first_fields(cpuinfo: Path) -> dict[str, str]:
    """The first processor's ``key: value`` lines, keys lowercased."""
    fields: dict[str, str] = {}
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return fields
    for line in text.splitlines():
        if not line.strip() and fields:
            break
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return fields
