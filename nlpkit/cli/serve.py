"""nlpkit serve: load the models, start the HTTP server, say where it listens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nlpkit.cli import options as opt
from nlpkit.cli.render import out


def _option(flag: str, help: str, panel: str = "Server", **extra) -> typer.Option:
    return typer.Option(flag, help=help, rich_help_panel=panel, **extra)


Tasks = Annotated[
    list[str] | None,
    typer.Option(
        "--task",
        metavar="TASK",
        show_default=False,
        help="A task to serve (repeat); default: every task with a built-in or --model model.",
    ),
]
Models = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        metavar="TASK=MODEL",
        show_default=False,
        help="The model for a task (repeat), e.g. classify=./runs/sst2.",
    ),
]
Host = Annotated[str, _option("--host", "Address to bind; 0.0.0.0 serves other machines.")]
Port = Annotated[int, _option("--port", "Port (0: any free one).", min=0, max=65535, metavar="N")]
ApiKey = Annotated[
    str | None,
    _option(
        "--api-key",
        "Require 'Authorization: Bearer KEY' (env NLPKIT_API_KEY).",
        envvar="NLPKIT_API_KEY",
        metavar="KEY",
        show_default=False,
    ),
]
CorsOrigins = Annotated[
    list[str] | None,
    _option(
        "--cors-origin",
        "Allow browser pages from this origin (repeat).",
        metavar="URL",
        show_default=False,
    ),
]
MaxBatch = Annotated[
    int, _option("--max-batch", "Most rows in one batched forward pass.", min=1, metavar="N")
]
BatchWait = Annotated[
    float | None,
    _option(
        "--batch-wait-ms",
        "How long a batch waits for more requests [default: 5 for classify, 20 for generation].",
        min=0,
        metavar="MS",
        show_default=False,
    ),
]
MaxTexts = Annotated[int, _option("--max-texts", "Most texts per request.", "Limits", min=1)]
MaxChars = Annotated[int, _option("--max-chars", "Most characters per text.", "Limits", min=1)]
MaxBody = Annotated[int, _option("--max-body-bytes", "Largest request body.", "Limits", min=1)]
MaxNewTokens = Annotated[
    int,
    _option("--max-new-tokens", "Most new tokens a generation may ask for.", "Limits", min=1),
]
MaxQueue = Annotated[
    int | None,
    _option(
        "--max-queue",
        "Most rows waiting per model; beyond it 503 + Retry-After [default: 4 x --max-batch].",
        min=1,
        metavar="N",
        show_default=False,
    ),
]
Workers = Annotated[
    int,
    _option(
        "--workers",
        "Server processes on this machine, one port, cores / N threads each.",
        "Scaling",
        min=1,
        metavar="N",
    ),
]
EngineName = Annotated[
    str,
    _option("--engine", "local: this machine; ray: Ray Serve replicas.", "Scaling", metavar="NAME"),
]
Replicas = Annotated[
    int, _option("--replicas", "Ray Serve replicas (--engine ray).", "Scaling", min=1, metavar="N")
]
RayAddress = Annotated[
    str | None,
    _option(
        "--ray-address",
        "A Ray cluster (env RAY_ADDRESS); default: a local Ray on 127.0.0.1.",
        "Scaling",
        metavar="ADDR",
        show_default=False,
    ),
]
CpusPerReplica = Annotated[
    float,
    _option("--num-cpus-per-replica", "CPUs Ray reserves per replica.", "Scaling", min=0.01),
]
GpusPerReplica = Annotated[
    float,
    _option("--num-gpus-per-replica", "GPUs Ray reserves per replica.", "Scaling", min=0),
]


Index = Annotated[
    Path | None,
    _option(
        "--index",
        "A vector index folder (nlpkit index build) to answer POST /v1/search from; "
        "needs the embed task.",
        metavar="DIR",
    ),
]


def serve_cmd(
    tasks: Tasks = None,
    models: Models = None,
    host: Host = "127.0.0.1",
    port: Port = 8000,
    api_key: ApiKey = None,
    cors_origins: CorsOrigins = None,
    max_batch: MaxBatch = 32,
    batch_wait_ms: BatchWait = None,
    max_queue: MaxQueue = None,
    max_texts: MaxTexts = 64,
    max_chars: MaxChars = 10_000,
    max_body_bytes: MaxBody = 1_000_000,
    max_new_tokens: MaxNewTokens = 512,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
    workers: Workers = 1,
    engine: EngineName = "local",
    replicas: Replicas = 1,
    ray_address: RayAddress = None,
    cpus_per_replica: CpusPerReplica = 1.0,
    gpus_per_replica: GpusPerReplica = 0.0,
    index: Index = None,
) -> None:
    """Serve the tasks over HTTP: JSON endpoints, OpenAI-compatible chat, a page at /.

    Example: nlpkit serve --port 8000   (then open http://127.0.0.1:8000/)
    """
    from nlpkit.serve import require_serve_extra

    require_serve_extra()
    from nlpkit.serve.engine import Settings, choose_models
    from nlpkit.serve.limits import Limits
    from nlpkit.serve.replicas import AppSpec
    from nlpkit.serve.server import check_exposure, check_port

    ray_given = replicas != 1 or ray_address or cpus_per_replica != 1 or gpus_per_replica
    _check_engine(engine, workers, bool(ray_given))
    chosen = choose_models(tasks or [], _task_models(models or []))
    check_port(host, port)
    spec = AppSpec(
        chosen,
        Settings(device, threads, max_batch, batch_wait_ms, max_queue, _index(index, chosen)),
        Limits(max_texts, max_chars, max_body_bytes, max_new_tokens),
        api_key,
        tuple(cors_origins or ()),
    )
    ready = _announce(list(chosen))
    if engine == "ray":
        from nlpkit.serve.ray_engine import run_ray_serve

        check_exposure(host, api_key)
        out.note(f"starting {replicas} Ray Serve replica(s); each loads its models")
        where = (ray_address, cpus_per_replica, gpus_per_replica)
        stopped = run_ray_serve(spec, replicas, host, port, *where, on_ready=ready)
    elif workers > 1:
        stopped = _serve_workers(spec, workers, host, port, ready)
    else:
        stopped = _serve_here(spec, host, port, ready)
    out.note(f"stopped ({stopped})" if stopped else "stopped")


def _index(index: Path | None, chosen: dict[str, str]) -> str | None:
    """The index folder, when the server embeds queries (a task whose pieces search)."""
    from nlpkit.errors import UsageError
    from nlpkit.tasks.pieces import pieces_of

    if index is None:
        return None
    if not any(pieces_of(command).searches for command in chosen):
        raise UsageError(
            "--index answers /v1/search with query vectors: serve an embedding task too "
            "(drop --task, or add --task embed)",
            param="index",
        )
    return str(index)


def _check_engine(engine: str, workers: int, ray_given: bool) -> None:
    from nlpkit.errors import UsageError

    if engine not in ("local", "ray"):
        raise UsageError(f"--engine {engine}: use local or ray", param="engine")
    if engine == "ray" and workers > 1:
        raise UsageError("--workers is for --engine local; Ray Serve scales with --replicas")
    if engine == "local" and ray_given:
        raise UsageError(
            "--replicas, --ray-address and --num-*-per-replica need --engine ray "
            "(on this machine, --workers N runs N processes)"
        )


def _announce(served: list[str]):
    def ready(url: str) -> None:
        names = ", ".join(served)
        out.note(f"serving {names} on {url} (page: {url}/, API docs: {url}/docs); Ctrl-C stops")

    return ready


def _serve_here(spec, host: str, port: int, ready) -> str | None:
    """One process: hold the port, load the models here, then serve."""
    import time

    from nlpkit.serve.engine import Engine
    from nlpkit.serve.server import listen, run_server

    with listen(host, port) as sock:  # held while the models load
        engine = Engine(spec.models, spec.settings)
        start = time.perf_counter()
        engine.load(
            lambda task, model, seconds: out.note(f"loaded {task}: {model} ({seconds:.1f} s)")
        )
        out.note(f"models ready in {time.perf_counter() - start:.1f} s")
        return run_server(
            engine,
            host,
            port,
            spec.limits,
            spec.api_key,
            list(spec.cors_origins),
            on_ready=ready,
            sock=sock,
        )


def _serve_workers(spec, workers: int, host: str, port: int, ready) -> str | None:
    """N worker processes; each loads its own models."""
    from nlpkit.models.load import library_output_wanted
    from nlpkit.serve.server import check_exposure
    from nlpkit.serve.workers import run_workers

    check_exposure(host, spec.api_key)
    out.note(f"starting {workers} workers; each loads its models")
    verbose = library_output_wanted()

    def event(text: str, trouble: bool) -> None:
        (out.warn if trouble else out.note)(text)

    return run_workers(spec, workers, host, port, ready, event, verbose)


def _task_models(pairs: list[str]) -> dict[str, str]:
    """``TASK=MODEL`` pairs as a dict."""
    from nlpkit.errors import UsageError

    found = {}
    for pair in pairs:
        task, sep, model = pair.partition("=")
        if not sep or not task.strip() or not model.strip():
            raise UsageError(f"--model {pair}: expected TASK=MODEL, e.g. classify=sentiment")
        found[task.strip()] = model.strip()
    return found
