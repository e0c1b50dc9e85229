"""The real `nlpkit serve` command: start, health, classify, SIGTERM -> drained, exit 0;
and its argument errors, in-process."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import time
import urllib.request
import warnings

import pytest

from nlpkit.errors import NlpkitWarning
from tests.conftest import invoke, nlpkit_command, subprocess_env
from tests.serve_helpers import free_port


def _get(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_serve_starts_answers_and_stops_cleanly_on_sigterm(tiny, tmp_path):
    port = free_port()
    log = tmp_path / "stderr.txt"
    command = [
        *nlpkit_command(),
        "serve",
        "--task",
        "classify",
        "--model",
        f"classify={tiny['bert']}",
        "--port",
        str(port),
        "--threads",
        "1",
    ]
    with log.open("w") as stderr:
        server = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=subprocess_env()
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while "serving" not in log.read_text():
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert _get(f"{url}/health") == {"status": "ok", "tasks": ["classify"]}
        reply = _get(f"{url}/v1/classify", {"texts": ["I love it", "awful"]})
        assert [set(row) for row in reply["results"]] == [{"label", "score", "top"}] * 2
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
    text = log.read_text()
    assert f"serving classify on {url}" in text and "loaded classify" in text
    assert "stopped (SIGTERM)" in text and "Traceback" not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "classify"], "expected TASK=MODEL"),
        (["--task", "parse"], "unknown task 'parse'"),
        (["--task", "translate"], "translate needs its --model named"),
        (["--task", "classify", "--model", "generate=x"], "not served"),
        (["--model", "classify=./nowhere"], "no such folder: ./nowhere"),
    ],
)
def test_serve_argument_errors(capsys, monkeypatch, args, message):
    code, _out, err = invoke(capsys, monkeypatch, "serve", "--port", "0", *args)
    assert code != 0 and message in err and "Traceback" not in err


def test_a_missing_serve_extra_names_the_install_line(capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a)
    )
    code, _out, err = invoke(capsys, monkeypatch, "serve")
    assert code == 1 and 'pip install "nlpkit[serve]"' in err and "fastapi" in err


def test_binding_beyond_localhost_without_a_key_warns():
    from nlpkit.serve.server import check_exposure

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_exposure("127.0.0.1", None)
        check_exposure("0.0.0.0", "key")
        assert not caught
        check_exposure("0.0.0.0", None)
    [warning] = caught
    assert issubclass(warning.category, NlpkitWarning) and "without an API key" in str(
        warning.message
    )
