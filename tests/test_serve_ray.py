"""`nlpkit serve --engine ray --replicas 2`, for real: the command starts a local Ray on
127.0.0.1, Ray Serve's proxy answers on the port, both replicas answer (each names
itself in x-nlpkit-replica), the page and the OpenAI endpoints work through the proxy
(the official client), and SIGTERM stops Serve and Ray, exit 0. A Ray address that
does not answer is one error line within seconds; a replica that cannot load fails the
command with that replica's error and leaves no Ray running."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import nlpkit_command, run_nlpkit, subprocess_env
from tests.serve_helpers import free_port, tiny_chat_model
from tests.test_serve_workers import _wait_for

pytest.importorskip("ray.serve")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one Ray at a time


def _local_ray_env() -> dict[str, str]:
    """The command's environment, with no cluster address (it starts its own Ray) and
    Serve's proxy health checks given a minute: on a CI machine busy with other work,
    the 10 s default marked a healthy proxy dead three times in a row."""
    env = {k: v for k, v in subprocess_env().items() if k != "RAY_ADDRESS"}
    env.update(
        RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S="60", RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S="60"
    )
    return env


def _ray_processes(driver: int) -> list[str]:
    """Ray processes of the session that process ``driver`` started (its folder is
    named session_<date>_<time>_<micros>_<driver pid>), if any are left."""
    found = subprocess.run(
        ["pgrep", "-af", f"session_[0-9_-]*_{driver}"], capture_output=True, text=True
    )
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def test_two_ray_serve_replicas_answer_the_api_the_page_and_openai(tiny, tmp_path):
    import openai

    chat = tiny_chat_model(tiny["gpt2"], tmp_path / "chat")
    port, log = free_port(), tmp_path / "stderr.txt"
    args = ["--task", "classify", "--task", "generate", "--port", str(port)]
    args += ["--model", f"classify={tiny['bert']}", "--model", f"generate={chat}"]
    args += ["--engine", "ray", "--replicas", "2", "--num-cpus-per-replica", "0.5"]
    env = _local_ray_env()
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [*nlpkit_command(), "serve", *args], stdout=subprocess.DEVNULL, stderr=stderr, env=env
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(log, "serving classify, generate", server, seconds=300)

        def ask(_i: int) -> str:
            reply = httpx.post(f"{url}/v1/classify", json={"texts": ["good"]}, timeout=60)
            assert reply.status_code == 200, reply.text
            return reply.headers["x-nlpkit-replica"]

        with ThreadPoolExecutor(8) as pool:
            replicas = set(pool.map(ask, range(48)))
        assert len(replicas) == 2 and all(name.startswith("replica-") for name in replicas)
        assert "<html" in httpx.get(f"{url}/", timeout=30).text.lower()
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=60)
        chat_reply = client.chat.completions.create(
            model="nlpkit", messages=[{"role": "user", "content": "hi"}], max_tokens=6, stop=["\n"]
        )
        assert chat_reply.choices[0].finish_reason in ("stop", "length")
        assert [m.id for m in client.models.list()] == [tiny["bert"], chat]
        assert "nlpkit_requests_total" in httpx.get(f"{url}/metrics", timeout=30).text
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=120) == 0
    finally:
        if server.poll() is None:
            server.kill()
    text = log.read_text()
    assert "stopped (SIGTERM)" in text and "Traceback" not in text
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=5)


def test_a_ray_address_that_does_not_answer_is_one_line_within_seconds(tiny):
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    start = time.monotonic()
    result = run_nlpkit(
        "serve", "--task", "classify", "--model", f"classify={tiny['bert']}",
        "--port", str(free_port()), "--engine", "ray", "--ray-address", address,
        timeout=120,
    )  # fmt: skip
    assert time.monotonic() - start < 30  # the command, start-up included; the check: 5 s
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and len(errors) == 1, result.stderr
    assert f"cannot reach the Ray cluster at {address}" in errors[0] and "RAY_ADDRESS" in errors[0]


def test_a_replica_that_cannot_load_fails_the_command_and_leaves_nothing(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": "x"}))
    env = _local_ray_env()
    server = subprocess.Popen(
        [*nlpkit_command(), "serve", "--task", "classify", "--model", f"classify={broken}"]
        + ["--port", str(free_port()), "--engine", "ray", "--replicas", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        _out, stderr = server.communicate(timeout=300)
    finally:
        if server.poll() is None:
            server.kill()
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert server.returncode == 1 and len(errors) == 1, stderr[-3000:]
    assert "a replica failed to start" in errors[0] and str(broken) in errors[0]
    assert not _ray_processes(server.pid)


def test_a_serve_config_file_builds_the_same_application(tiny):
    """KubeRay's RayService names `nlpkit.serve.ray_engine:app_builder` with args."""
    from ray import serve

    from nlpkit.errors import UsageError
    from nlpkit.serve.ray_engine import app_builder

    args = {"models": {"classify": tiny["bert"]}, "replicas": 2, "max_queue": 64}
    assert isinstance(app_builder(args), serve.Application)
    with pytest.raises(UsageError, match="unknown args for nlpkit's Serve application: replica"):
        app_builder({"models": {"classify": tiny["bert"]}, "replica": 2})
