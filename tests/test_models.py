"""Model resolution: local folders, bad paths, and a fast, actionable offline error."""

from __future__ import annotations

import time

import pytest

from nlpkit.errors import ModelNotFoundError
from nlpkit.models import default_translation_model, resolve_model


def test_local_folder_loads_without_hub(tiny):
    source = resolve_model(tiny["bert"])
    assert source.local_files_only and source.is_local_folder


def test_missing_local_path_is_named(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no such folder"):
        resolve_model(str(tmp_path / "nope"))


def test_file_instead_of_folder(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match="is a file"):
        resolve_model(str(path))


def test_offline_hub_id_fails_fast_with_fix():
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("some-org/some-model")
    assert time.perf_counter() - start < 2
    message = str(info.value)
    assert "some-org/some-model" in message and "local folder" in message


def test_unreachable_hub_fails_fast(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://hub.invalid")
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="cannot be reached"):
        resolve_model("some-org/some-model")
    assert time.perf_counter() - start < 2


def test_translation_default():
    assert default_translation_model("en", "ro") == "Helsinki-NLP/opus-mt-en-ro"


def test_network_guard_is_on_in_process_and_subprocess():
    import socket
    import subprocess
    import sys

    from tests.conftest import subprocess_env

    with pytest.raises(RuntimeError, match="network guard"):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    code = "import socket; socket.create_connection(('192.0.2.1', 443), timeout=1)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env()
    )
    assert result.returncode != 0 and "network guard" in result.stderr
