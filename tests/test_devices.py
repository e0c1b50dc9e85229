"""Device and dtype decisions."""

from __future__ import annotations

import pytest
import torch

from nlpkit.devices import check_device_name, resolve_device, resolve_dtype
from nlpkit.errors import DeviceError


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_known_device_names(name):
    assert check_device_name(name) == name


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "tpu", ""])
def test_unknown_device_names(name):
    with pytest.raises(DeviceError, match="unknown device"):
        check_device_name(name)


def test_auto_and_cpu_on_this_machine():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(DeviceError, match="no CUDA GPU is available"):
        resolve_device("cuda")


def test_dtype_choices(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_dtype("auto", cpu) is torch.float32
    assert resolve_dtype("bfloat16", cpu) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_dtype("auto", torch.device("cuda")) is torch.float16
    with pytest.raises(DeviceError, match="unknown dtype"):
        resolve_dtype("float8", cpu)
