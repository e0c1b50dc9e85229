"""The real `nlpkit serve` command: start, health, classify, SIGTERM -> drained, exit 0;
and its argument errors, in-process."""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
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


def test_serve_starts_answers_and_drains_on_sigterm(tiny, tmp_path):
    port = free_port()
    log = tmp_path / "stderr.txt"
    models = [f"classify={tiny['bert']}", f"generate={tiny['gpt2']}"]
    command = [*nlpkit_command(), "serve", "--task", "classify", "--task", "generate"]
    command += ["--model", models[0], "--model", models[1]]
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [*command, "--port", str(port), "--threads", "1"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=subprocess_env(),
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        held_while_loading = False  # nothing else can take the port meanwhile
        while "serving" not in log.read_text():
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            if "models ready" not in log.read_text() and not _bindable(port):
                held_while_loading = True
            time.sleep(0.1)
        assert held_while_loading, log.read_text()
        assert _get(f"{url}/health") == {"status": "ok", "tasks": ["classify", "generate"]}
        reply = _get(f"{url}/v1/classify", {"texts": ["I love it", "awful"]})
        assert [set(row) for row in reply["results"]] == [{"label", "score", "top"}] * 2
        answer = _request_across(port, lambda: server.send_signal(signal.SIGTERM))
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
    assert answer.startswith("HTTP/1.1 200") and '"label"' in answer  # drained, not cut
    text = log.read_text()
    assert f"serving classify, generate on {url}" in text and "loaded classify" in text
    assert "stopped (SIGTERM)" in text and "Traceback" not in text


def test_a_port_in_use_is_one_error_line_before_any_model_loads(tiny):
    with socket.socket() as held:  # another program listening on the port
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = subprocess.run(
            [*nlpkit_command(), "serve", "--task", "classify", "--port", str(port)]
            + ["--model", f"classify={tiny['bert']}"],
            capture_output=True,
            text=True,
            env=subprocess_env(),
            timeout=120,
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: --port {port} on 127.0.0.1 is in use by another program; "
        "pick another with --port N (0: any free port)"
    ]


def _bindable(port: int) -> bool:
    """Whether a second server (SO_REUSEADDR, as uvicorn and nlpkit bind) could bind."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _request_across(port: int, act) -> str:
    """Send half a classify request, ``act()``, wait, send the rest; the raw response.
    The request is in flight (headers read, body awaited) when ``act`` runs."""
    body = json.dumps({"texts": ["I love it", "awful"]}).encode()
    head = (
        f"POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
        f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body[:10])
        time.sleep(0.3)
        act()
        time.sleep(0.5)  # the server is shutting down now, with this request open
        sock.sendall(body[10:])
        return b"".join(iter(lambda: sock.recv(65536), b"")).decode()


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
