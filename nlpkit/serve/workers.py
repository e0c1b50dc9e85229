"""``nlpkit serve --workers N``: N server processes on one port, restarted if they die.

uvicorn's own supervisor (``uvicorn.supervisors.Multiprocess``, what ``uvicorn
--workers`` runs) does the work: this process binds the port once, spawns N workers
that share the socket (the kernel hands each connection to one of them), pings them,
starts a new worker when one dies, stops everything when a worker cannot start, and
on SIGTERM or Ctrl-C asks every worker to drain. nlpkit adds what a model server
needs around it:

- each worker builds its own app from the AppSpec (its own models and batching
  queues) with cores / N threads, so N workers never fight over the cores;
- the command says "serving" once every worker has loaded its models;
- a worker that dies is named in the log (pid, signal or exit code) before uvicorn
  replaces it; one that cannot load its model stops the command with that error;
- /metrics sums every worker (prometheus-client's multiprocess mode, in a folder
  that lives as long as the command).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from uvicorn.supervisors.multiprocess import Multiprocess, Process

from nlpkit.devices import cpu_cores
from nlpkit.errors import ModelLoadError, NlpkitError, NlpkitWarning, first_line
from nlpkit.serve.metrics import MULTIPROCESS_ENV
from nlpkit.serve.replicas import AppSpec, build_app
from nlpkit.serve.server import listen

if TYPE_CHECKING:
    from fastapi import FastAPI

SPEC_ENV = "NLPKIT_SERVE_SPEC"  # the AppSpec, as JSON, for every worker
RUN_DIR_ENV = "NLPKIT_SERVE_RUN_DIR"  # where workers say they are ready or failed
DRAIN_TIMEOUT_S = 30
POLL_S = 0.1


def run_workers(
    spec: AppSpec,
    workers: int,
    host: str = "127.0.0.1",
    port: int = 8000,
    on_ready: Callable[[str], None] | None = None,
    on_event: Callable[[str, bool], None] | None = None,
    verbose: bool = False,
) -> str | None:
    """Serve ``spec`` from ``workers`` processes until stopped; the signal's name, if any.

    ``on_ready(url)`` once every worker has loaded its models; ``on_event(text, trouble)``
    when a worker died (trouble) or a new one is ready. A worker that cannot load raises
    its error here.
    """
    import uvicorn

    check_workers(workers)
    spec = spec.split_threads(workers)
    sock = listen(host, port)
    url = _url(host, sock.getsockname()[1])
    with tempfile.TemporaryDirectory(prefix="nlpkit-serve-") as folder:
        run_dir = Path(folder)
        (run_dir / "metrics").mkdir()
        environment = {
            SPEC_ENV: spec.to_json(),
            RUN_DIR_ENV: str(run_dir),
            MULTIPROCESS_ENV: str(run_dir / "metrics"),
        }
        config = uvicorn.Config(
            f"{__name__}:worker_app",
            factory=True,
            workers=workers,
            log_level="info" if verbose else "warning",
            access_log=verbose,
            timeout_graceful_shutdown=DRAIN_TIMEOUT_S,
        )
        with _environment(environment):
            supervisor = _Supervisor(config, [sock], run_dir, on_event or (lambda _t, _b: None))
            watcher = threading.Thread(
                target=supervisor.announce,
                args=(workers, lambda: on_ready(url) if on_ready else None),
            )
            watcher.daemon = True
            watcher.start()
            try:
                supervisor.run()
            finally:
                sock.close()
    if supervisor.failure:
        raise ModelLoadError(supervisor.failure)
    return supervisor.stopped_by


def check_workers(workers: int) -> None:
    """More workers than cores is allowed (a warning): each still gets one thread."""
    cores = cpu_cores()
    if workers > cores:
        warnings.warn(
            NlpkitWarning(
                f"workers={workers} is more than the {cores} CPU cores here: the workers "
                "will share cores and each one holds its own copy of the models",
                param="workers",
            ),
            stacklevel=3,
        )


def worker_app() -> FastAPI:
    """uvicorn's app factory, called in each worker: the app from the spec in the
    environment. A failure is written where the parent reads it, then the worker exits
    with uvicorn's start-up failure code, which stops the parent instead of a restart."""
    from uvicorn.config import STARTUP_FAILURE

    run_dir = Path(os.environ[RUN_DIR_ENV])
    pid = os.getpid()
    try:
        app = build_app(AppSpec.from_json(os.environ[SPEC_ENV]), f"worker-{pid}")
    except Exception as exc:  # noqa: BLE001 - any failure: the parent names it and stops
        message = str(exc) if isinstance(exc, NlpkitError) else first_line(exc)
        (run_dir / f"failed-{pid}").write_text(f"worker {pid}: {message}", encoding="utf-8")
        sys.exit(STARTUP_FAILURE)
    (run_dir / f"ready-{pid}").touch()
    return app


class _Supervisor(Multiprocess):
    """uvicorn's Multiprocess, telling nlpkit which signal stopped it, which worker died
    and why, and which worker could not start."""

    def __init__(self, config, sockets, run_dir: Path, on_event: Callable[[str, bool], None]):
        super().__init__(config, sockets)
        self.run_dir, self.on_event = run_dir, on_event
        self.stopped_by: str | None = None
        self.failure: str | None = None

    def handle_int(self) -> None:
        self.stopped_by = self.stopped_by or "SIGINT"
        super().handle_int()

    def handle_term(self) -> None:
        self.stopped_by = self.stopped_by or "SIGTERM"
        super().handle_term()

    def keep_subprocess_alive(self) -> None:
        """uvicorn's own loop (a worker that does not answer its ping is killed and
        replaced), except that a worker which never got ready stops everything: a
        restart would fail the same way, again and again."""
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            how = _how(process.exitcode)
            if not (self.run_dir / f"ready-{process.pid}").exists():
                failed = self.run_dir / f"failed-{process.pid}"
                self.failure = (
                    failed.read_text(encoding="utf-8")
                    if failed.exists()
                    else f"worker {process.pid} stopped before it was ready ({how}); "
                    "its output is above"
                )
                self.should_exit.set()
                return
            _forget(process.pid)
            self.on_event(f"worker {process.pid} died ({how}); starting a new one", True)
            self.processes[index] = Process(self.config, self.sockets)
            self.processes[index].start()

    def announce(self, workers: int, ready: Callable[[], None]) -> None:
        """Call ``ready`` once ``workers`` workers have loaded; then name each newcomer."""
        seen: set[str] | None = None  # None: not every worker is ready yet
        while not self.should_exit.is_set():
            now = {path.name for path in self.run_dir.glob("ready-*")}
            if seen is None and len(now) >= workers:
                ready()
                seen = now
            elif seen is not None:
                for name in sorted(now - seen):
                    self.on_event(f"worker {name.removeprefix('ready-')} is ready", False)
                seen = now
            time.sleep(POLL_S)


def _forget(pid: int | None) -> None:
    """A dead worker's live gauges (its queue depth) leave the /metrics sum."""
    from prometheus_client import multiprocess

    if pid is not None:
        multiprocess.mark_process_dead(pid)


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the workers spawned inside; restore them after."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
