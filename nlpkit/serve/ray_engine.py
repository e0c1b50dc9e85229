"""``nlpkit serve --engine ray --replicas N``: the same FastAPI app as a Ray Serve
deployment, on this machine or on a Ray cluster.

    Ray Serve's HTTP proxy on --host/--port -> N replicas (Ray actors), each building
    the app from the AppSpec (``serve.ingress`` with a builder): its own models, its
    own batching queues, ``x-nlpkit-replica`` naming it in every response.

Ray as found: ``--ray-address`` or ``RAY_ADDRESS`` names a cluster (checked first, so
an address that does not answer is a one-line error within seconds, not Ray's long
retries); without one, a local Ray on 127.0.0.1 that this command starts and stops.
A replica that cannot load its model fails the command with that replica's error, and
nothing is left running. Ray is the ``nlpkit[ray]`` extra, imported only here.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from nlpkit.devices import cpu_cores
from nlpkit.errors import DependencyError, ModelLoadError, NlpkitError, UsageError, first_line
from nlpkit.serve.replicas import AppSpec, build_app

APP_NAME = "nlpkit"
CONNECT_TIMEOUT_S = 5.0  # a cluster's head answers a TCP connect at once, or not at all
DEFAULT_RAY_PORT = 6379
# Requests a replica takes at once: its own queue (--max-queue) is the bound that
# answers 503, so Serve's default of 5 must not queue them in the proxy instead.
MAX_ONGOING_REQUESTS = 1000
# app_builder's own args and their defaults: replicas, CPUs and GPUs per replica
SIZES = {"replicas": 1, "num_cpus_per_replica": 1, "num_gpus_per_replica": 0}


def run_ray_serve(
    spec: AppSpec,
    replicas: int = 1,
    host: str = "127.0.0.1",
    port: int = 8000,
    address: str | None = None,
    cpus_per_replica: float = 1,
    gpus_per_replica: float = 0,
    on_ready: Callable[[str], None] | None = None,
) -> str | None:
    """Serve ``spec`` from ``replicas`` Ray Serve replicas until SIGTERM or Ctrl-C; the
    signal's name. ``on_ready(url)`` once every replica has loaded its models."""
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.serve") is None:
        raise DependencyError('--engine ray needs Ray Serve: pip install "nlpkit[ray]"')
    if replicas < 1:
        raise UsageError(f"replicas={replicas}: expected 1 or more", param="replicas")
    with ray_cluster(address, replicas, cpus_per_replica) as local:
        from ray import serve

        logging.getLogger("ray.serve").setLevel(logging.WARNING)  # its INFO lines: its log files

        stopped = _signals()
        serve.start(http_options={"host": host, "port": port})  # a cluster's own Serve: kept
        try:
            _deploy(application(spec, replicas, cpus_per_replica, gpus_per_replica))
            if on_ready is not None:
                on_ready(_url(host, port))
            stopped.wait()
        finally:  # replicas finish their requests first; other apps on a cluster stay
            if local:
                serve.shutdown()
            else:
                serve.delete(APP_NAME)
        return stopped.name


def application(spec: AppSpec, replicas: int = 1, cpus: float = 1, gpus: float = 0):
    """The Serve application: ``replicas`` replicas of the app, each reserving ``cpus``
    and ``gpus`` and running as many threads as its CPUs (unless threads were given)."""
    if spec.settings.threads is None:
        threads = max(1, int(cpus))
        spec = dataclasses.replace(
            spec, settings=dataclasses.replace(spec.settings, threads=threads)
        )
    deployment = _deployment(spec).options(
        num_replicas=replicas,
        ray_actor_options={"num_cpus": cpus, "num_gpus": gpus},
        max_ongoing_requests=MAX_ONGOING_REQUESTS,
        max_constructor_retry_count=replicas,  # a model that fails to load fails again
    )
    return deployment.bind()


def app_builder(args: dict[str, Any]):
    """The same application for a Serve config file (KubeRay's RayService), with
    ``import_path: nlpkit.serve.ray_engine:app_builder`` and ``args``: ``models``
    (task -> model), ``replicas``, ``num_cpus_per_replica``, ``num_gpus_per_replica``
    and any Settings or Limits field (``max_batch``, ``max_queue``, ``max_texts``...).
    The API key comes from NLPKIT_API_KEY in the replicas' environment."""
    from nlpkit.serve.engine import Settings, choose_models
    from nlpkit.serve.limits import Limits

    given = dict(args)
    sizes = [given.pop(key, default) for key, default in SIZES.items()]
    models = choose_models(list(given.pop("tasks", [])), dict(given.pop("models", {})))
    parts = {}
    for kind in (Settings, Limits):
        names = {field.name for field in dataclasses.fields(kind)}
        parts[kind] = kind(**{name: given.pop(name) for name in names & set(given)})
    if given:
        raise UsageError(f"unknown args for nlpkit's Serve application: {', '.join(given)}")
    api_key = os.environ.get("NLPKIT_API_KEY")
    spec = AppSpec(models, parts[Settings], parts[Limits], api_key)
    return application(spec, int(sizes[0]), float(sizes[1]), float(sizes[2]))


def _deploy(app) -> None:
    """Run the application and wait until every replica is up, or fail with the
    replica's own error."""
    from ray import serve

    try:
        serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
    except RuntimeError as exc:
        raise ModelLoadError(f"a replica failed to start: {_replica_error(exc)}") from None


def _deployment(spec: AppSpec):
    """The Serve deployment: a class whose ASGI app is built on each replica."""
    from ray import serve

    def build():
        replica = serve.get_replica_context().replica_id.unique_id
        return build_app(spec, f"replica-{replica}")

    @serve.ingress(build)
    class NlpkitServer:
        """One replica of the nlpkit server (the app does the work)."""

    return serve.deployment(NlpkitServer, name="NlpkitServer")


@contextmanager
def ray_cluster(address: str | None, replicas: int, cpus_per_replica: float) -> Iterator[bool]:
    """Connected to the cluster at ``address`` (or RAY_ADDRESS), else a local Ray on
    127.0.0.1 with room for every replica (yields True); shut down (or disconnected)
    on the way out."""
    import ray

    address = address or os.environ.get("RAY_ADDRESS")
    quiet = {"log_to_driver": False, "logging_level": "ERROR", "configure_logging": False}
    if address:
        check_reachable(address)
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise NlpkitError(_unreachable(address, first_line(exc))) from None
    else:
        cpus = max(cpu_cores(), int(replicas * cpus_per_replica + 0.999))
        local = {"num_cpus": cpus, "include_dashboard": False, "_node_ip_address": "127.0.0.1"}
        ray.init("local", **local, **quiet)  # "local": never a stale cluster's address
    try:
        yield not address
    finally:
        ray.shutdown()


def check_reachable(address: str) -> None:
    """A TCP connect to the cluster's head, so an address that does not answer fails in
    seconds (Ray itself retries for a minute or more)."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    host = host.strip("[]") or target
    try:
        with socket.create_connection(
            (host, int(port) if port.isdigit() else DEFAULT_RAY_PORT), CONNECT_TIMEOUT_S
        ):
            pass
    except OSError as exc:
        raise NlpkitError(_unreachable(address, exc.strerror or type(exc).__name__)) from None


def _unreachable(address: str, why: str) -> str:
    return (
        f"cannot reach the Ray cluster at {address} ({why}); check --ray-address or "
        f"RAY_ADDRESS, and `ray status --address {address}` on the head node"
    )


def _replica_error(exc: RuntimeError) -> str:
    """The replica's own exception (the last line of the traceback Serve keeps in the
    deployment's status), without its module path; else Serve's message."""
    from ray import serve

    app = serve.status().applications.get(APP_NAME)
    for deployment in app.deployments.values() if app else []:
        for line in reversed(deployment.message.splitlines()):
            name, colon, message = line.partition(": ")
            if colon and re.fullmatch(r"[\w.]*(Error|Exception)", name):
                return message.strip()
    return first_line(exc)


class _Stopped(threading.Event):
    name: str | None = None


def _signals() -> _Stopped:
    """An event that SIGTERM or SIGINT sets (and names)."""
    stopped = _Stopped()

    def handler(number: int, _frame) -> None:
        stopped.name = signal.Signals(number).name
        stopped.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    return stopped


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
