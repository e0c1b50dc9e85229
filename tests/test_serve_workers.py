"""`nlpkit serve --workers 2`, the real command: two processes answer on one port (each
names itself in x-nlpkit-replica), /metrics sums both, a worker killed with -9 is
logged and replaced, SIGTERM drains every worker and exits 0; a worker that cannot
load stops the command with its error and leaves nothing running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from nlpkit.errors import NlpkitWarning, UsageError
from tests.conftest import nlpkit_command, subprocess_env
from tests.serve_helpers import free_port
from tests.test_serve_cli import _request_across


def _start(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("w") as stderr:
        return subprocess.Popen(
            [*nlpkit_command(), "serve", *args],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={k: v for k, v in subprocess_env().items() if k != "OMP_NUM_THREADS"},
        )


def _wait_for(log: Path, text: str, server: subprocess.Popen, seconds: float = 180) -> str:
    deadline = time.monotonic() + seconds
    while text not in log.read_text():
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return log.read_text()


def _replicas(url: str, wanted: int = 2, tries: int = 200) -> set[str]:
    """The workers that answer, from many concurrent requests (the kernel picks one)."""
    seen: set[str] = set()

    def ask(_i: int) -> str:
        reply = httpx.post(f"{url}/v1/classify", json={"texts": ["good"]}, timeout=30)
        assert reply.status_code == 200, reply.text
        return reply.headers["x-nlpkit-replica"]

    with ThreadPoolExecutor(8) as pool:
        for start in range(0, tries, 16):
            seen |= set(pool.map(ask, range(start, start + 16)))
            if len(seen) >= wanted:
                break
    return seen


def _classify_count(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    line = next(
        line
        for line in text.splitlines()
        if line.startswith('nlpkit_requests_total{endpoint="/v1/classify",status="200"}')
    )
    return float(line.rsplit(" ", 1)[1])


@pytest.mark.slow
def test_two_workers_answer_restart_after_kill_9_and_drain_on_sigterm(tiny, tmp_path):
    port, log = free_port(), tmp_path / "stderr.txt"
    model = f"classify={tiny['bert']}"
    server = _start(
        ["--task", "classify", "--model", model, "--port", str(port), "--workers", "2"], log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        text = _wait_for(log, "serving classify", server)
        assert "starting 2 workers" in text and f"on {url}" in text
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        first = _replicas(url)
        assert len(first) == 2 and all(name.startswith("worker-") for name in first)
        before = _classify_count(url)
        assert before >= 16  # both workers' requests, summed by the one that answered
        victim = int(sorted(first)[0].removeprefix("worker-"))
        os.kill(victim, signal.SIGKILL)
        text = _wait_for(
            log, f"worker {victim} died (killed by SIGKILL); starting a new one", server
        )
        _wait_for(log, "is ready", server)
        after = _replicas(url)
        assert len(after) == 2 and f"worker-{victim}" not in after
        assert _classify_count(url) >= before  # the dead worker's counts are kept
        workers = [int(name.removeprefix("worker-")) for name in after]
        answer = _request_across(port, lambda: server.send_signal(signal.SIGTERM))
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
    assert answer.startswith("HTTP/1.1 200") and '"label"' in answer  # drained, not cut
    text = log.read_text()
    assert "stopped (SIGTERM)" in text and "Traceback" not in text
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.slow
def test_a_worker_that_cannot_load_stops_the_command_with_its_error(tiny, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": "x"}))
    port, log = free_port(), tmp_path / "stderr.txt"
    args = ["--task", "classify", "--model", f"classify={broken}", "--port", str(port)]
    server = _start([*args, "--workers", "2"], log)
    try:
        assert server.wait(timeout=180) == 1
    finally:
        if server.poll() is None:
            server.kill()
    errors = [line for line in log.read_text().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "worker" in errors[0] and str(broken) in errors[0], log.read_text()
    leftover = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True)
    assert leftover.stdout == ""
    with httpx.Client() as http, pytest.raises(httpx.ConnectError):
        http.get(f"http://127.0.0.1:{port}/health")


def test_more_workers_than_cores_warn_and_a_port_in_use_is_a_usage_error(monkeypatch):
    import socket

    from nlpkit.serve import workers
    from nlpkit.serve.server import listen

    monkeypatch.setattr(workers, "cpu_cores", lambda: 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        workers.check_workers(3)
        workers.check_workers(2)
    assert [str(w.message) for w in caught if w.category is NlpkitWarning] == [
        "workers=3 is more than the 2 CPU cores here: the workers will share cores and each "
        "one holds its own copy of the models"
    ]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(UsageError, match="in use"):
            listen("127.0.0.1", taken.getsockname()[1])


def test_threads_are_split_between_workers_unless_given(monkeypatch):
    from nlpkit.serve import replicas
    from nlpkit.serve.engine import Settings

    monkeypatch.setattr(replicas, "cpu_cores", lambda: 8)
    spec = replicas.AppSpec({"classify": "m"})
    assert spec.split_threads(2).settings.threads == 4
    assert spec.split_threads(16).settings.threads == 1
    given = replicas.AppSpec({"classify": "m"}, Settings(threads=3))
    assert given.split_threads(2).settings.threads == 3
    assert replicas.AppSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "k8s"], "--engine k8s: use local or ray"),
        (["--engine", "ray", "--workers", "2"], "Ray Serve scales with --replicas"),
        (["--replicas", "2"], "need --engine ray"),
        (["--ray-address", "10.0.0.1:6379"], "need --engine ray"),
    ],
)
def test_scaling_flag_errors(capsys, monkeypatch, args, message):
    from tests.conftest import invoke

    code, _out, err = invoke(capsys, monkeypatch, "serve", "--port", "0", *args)
    assert code == 2 and message in err and "Traceback" not in err
