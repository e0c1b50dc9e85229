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


def test_device_errors_name_the_arguments():
    from nlpkit.devices import check_device_map

    with pytest.raises(DeviceError) as info:
        check_device_map("auto", "cpu")
    assert str(info.value).startswith("device='cpu' and device_map='auto': pass one")
    assert info.value.params == ("device", "device_map")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="use device='cpu' or device='auto'"):
            resolve_device("cuda")


def test_dtype_choices(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_dtype("auto", cpu) is torch.float32
    assert resolve_dtype("bfloat16", cpu) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_dtype("auto", torch.device("cuda")) is torch.float16
    with pytest.raises(DeviceError, match="unknown dtype"):
        resolve_dtype("float8", cpu)


@pytest.fixture
def fresh_threads(monkeypatch):
    """Each test decides threads anew, and torch gets its thread count back afterwards."""
    from nlpkit import devices

    before = torch.get_num_threads()
    monkeypatch.setattr(devices, "_threads_state", {})
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    yield devices
    torch.set_num_threads(before)


def test_explicit_threads_are_set(fresh_threads):
    assert fresh_threads.use_threads(1) == 1 and torch.get_num_threads() == 1
    with pytest.raises(DeviceError, match="threads must be at least 1") as info:
        fresh_threads.use_threads(0)
    assert info.value.param == "threads"


def test_default_threads_leave_busy_cores_alone(fresh_threads, monkeypatch):
    monkeypatch.setattr(fresh_threads.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    for busy, expected in [(0.0, 4), (1.2, 3), (2.6, 1), (9.0, 1)]:
        monkeypatch.setattr(fresh_threads, "busy_cores", lambda busy=busy: busy)
        assert fresh_threads.default_threads() == expected
    assert fresh_threads.default_threads(most=2) == 1  # still 9 busy
    monkeypatch.setattr(fresh_threads, "busy_cores", lambda: 0.0)
    assert fresh_threads.default_threads(most=2) == 2


def test_default_is_applied_and_cached(fresh_threads, monkeypatch):
    calls = []
    monkeypatch.setattr(fresh_threads, "default_threads", lambda most: calls.append(most) or 1)
    assert fresh_threads.use_threads() == 1 and torch.get_num_threads() == 1
    assert fresh_threads.use_threads() == 1 and len(calls) == 1  # rechecked once a minute


def test_user_omp_num_threads_wins_over_the_default(fresh_threads, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setattr(fresh_threads, "default_threads", lambda most: pytest.fail("asked"))
    torch.set_num_threads(2)
    assert fresh_threads.use_threads() == 2 and torch.get_num_threads() == 2
    assert fresh_threads.use_threads(1) == 1  # an explicit threads= still wins


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_getaffinity"), reason="Linux only")
def test_busy_cores_sees_a_cpu_burning_process(fresh_threads):
    import subprocess
    import sys
    import time

    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        assert fresh_threads.busy_cores(0.3) >= 0.6
    finally:
        burner.kill()
        burner.wait()
