"""Run the app under uvicorn until SIGTERM or Ctrl-C, then drain and return.

uvicorn stops taking connections on the signal, lets in-flight requests finish, and
then raises the signal again for the previous handler; ours only records it, so a
stopped server returns normally (exit code 0) instead of dying of its own signal.
"""

from __future__ import annotations

import errno
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable, Sequence

from nlpkit.errors import NlpkitWarning, UsageError
from nlpkit.serve.engine import Engine
from nlpkit.serve.limits import Limits

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
DRAIN_TIMEOUT_S = 30


def run_server(
    engine: Engine,
    host: str = "127.0.0.1",
    port: int = 8000,
    limits: Limits | None = None,
    api_key: str | None = None,
    cors_origins: Sequence[str] = (),
    on_ready: Callable[[str], None] | None = None,
    sock: socket.socket | None = None,
) -> str | None:
    """Serve ``engine`` (models loaded) until stopped; returns the signal's name, if any.

    ``on_ready(url)`` is called once the socket listens. ``sock``: the socket bound by
    ``listen`` before the models loaded (else uvicorn binds ``host:port`` now).
    """
    import uvicorn

    from nlpkit.models.load import library_output_wanted
    from nlpkit.serve.app import create_app

    check_exposure(host, api_key)
    app = create_app(engine, limits, api_key, cors_origins)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info" if library_output_wanted() else "warning",
        access_log=library_output_wanted(),
        timeout_graceful_shutdown=DRAIN_TIMEOUT_S,
    )
    server = uvicorn.Server(config)
    if on_ready is not None:
        _when_started(server, lambda: on_ready(_url(host, server)))
    stopped: list[str] = []
    previous = {
        sig: signal.signal(sig, lambda number, _frame: stopped.append(signal.Signals(number).name))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        server.run(sockets=[sock] if sock is not None else None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.close()
    return stopped[0] if stopped else None


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` now, bound as uvicorn binds, to serve from once
    the models are loaded: held while they load, the port cannot be taken meanwhile (a
    socket only bound would not stop another SO_REUSEADDR one binding it too), and clients
    that connect early wait in the backlog. A port in use is a UsageError now, not after
    the load. Port 0 always finds a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen()
    except OSError as exc:
        sock.close()
        raise _bind_error(exc, host, port) from None
    sock.set_inheritable(True)
    return sock


def check_port(host: str, port: int) -> None:
    """Take ``host:port`` once and let go: for servers that bind it themselves later
    (Ray Serve's proxy), a port in use is found before anything starts."""
    listen(host, port).close()


def _bind_error(exc: OSError, host: str, port: int) -> UsageError:
    if isinstance(exc, socket.gaierror):
        return UsageError(f"host={host}: not an address of this machine", param="host")
    if exc.errno == errno.EADDRINUSE:
        why = "is in use by another program"
    elif exc.errno == errno.EACCES:
        why = "needs root (ports below 1024)"
    else:
        why = f"cannot be bound ({exc.strerror})"
    return UsageError(
        f"port={port} on {host} {why}; pick another with port=N (0: any free port)",
        param="port",
    )


def check_exposure(host: str, api_key: str | None) -> None:
    """Warn when a server beyond this machine's loopback has no API key."""
    if host not in LOCAL_HOSTS and not api_key:
        warnings.warn(
            NlpkitWarning(
                f"serving on {host} without an API key: anyone who can reach this machine "
                "can use it; pass api_key= (or set NLPKIT_API_KEY)",
                param="api_key",
            ),
            stacklevel=3,
        )


def _when_started(server, callback: Callable[[], None]) -> None:
    def wait() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            callback()

    threading.Thread(target=wait, daemon=True).start()


def _url(host: str, server) -> str:
    """The address clients use; the real port when port 0 picked a free one."""
    port = server.config.port
    if server.servers and server.servers[0].sockets:
        port = server.servers[0].sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
