"""nlpkit serve: load the models, start the HTTP server, say where it listens."""

from __future__ import annotations

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


def serve_cmd(
    tasks: Tasks = None,
    models: Models = None,
    host: Host = "127.0.0.1",
    port: Port = 8000,
    api_key: ApiKey = None,
    cors_origins: CorsOrigins = None,
    max_batch: MaxBatch = 32,
    batch_wait_ms: BatchWait = None,
    max_texts: MaxTexts = 64,
    max_chars: MaxChars = 10_000,
    max_body_bytes: MaxBody = 1_000_000,
    max_new_tokens: MaxNewTokens = 512,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
) -> None:
    """Serve the tasks over HTTP: JSON endpoints, OpenAI-compatible chat, a page at /.

    Example: nlpkit serve --port 8000   (then open http://127.0.0.1:8000/)
    """
    import time

    from nlpkit.serve import require_serve_extra

    require_serve_extra()
    from nlpkit.serve.engine import Engine, Settings, choose_models
    from nlpkit.serve.limits import Limits
    from nlpkit.serve.server import check_port, run_server

    chosen = choose_models(tasks or [], _task_models(models or []))
    check_port(host, port)
    engine = Engine(chosen, Settings(device, threads, max_batch, batch_wait_ms))
    start = time.perf_counter()
    engine.load(lambda task, model, seconds: out.note(f"loaded {task}: {model} ({seconds:.1f} s)"))
    out.note(f"models ready in {time.perf_counter() - start:.1f} s")

    def ready(url: str) -> None:
        served = ", ".join(chosen)
        out.note(f"serving {served} on {url} (page: {url}/, API docs: {url}/docs); Ctrl-C stops")

    limits = Limits(max_texts, max_chars, max_body_bytes, max_new_tokens)
    stopped = run_server(engine, host, port, limits, api_key, cors_origins or [], ready)
    out.note(f"stopped ({stopped})" if stopped else "stopped")


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
