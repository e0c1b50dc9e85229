"""nlpkit serve: load the models, start the HTTP server, say where it listens."""

from __future__ import annotations

from typing import Annotated

import typer

from nlpkit.cli import options as opt
from nlpkit.cli.render import out

SERVER = "Server"
LIMITS = "Limits"


def serve_cmd(
    tasks: Annotated[
        list[str] | None,
        typer.Option("--task", metavar="TASK", help="A task to serve (repeat); default: "
                     "every task with a built-in or --model model.", show_default=False),
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option("--model", metavar="TASK=MODEL", help="The model for a task (repeat), "
                     "e.g. classify=./runs/sst2.", show_default=False),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind; "
                    "0.0.0.0 serves other machines.", rich_help_panel=SERVER)] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, metavar="N",
                    help="Port (0: any free one).", rich_help_panel=SERVER)] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="NLPKIT_API_KEY", metavar="KEY", show_default=False,
                     help="Require 'Authorization: Bearer KEY' (env NLPKIT_API_KEY).",
                     rich_help_panel=SERVER),
    ] = None,
    cors_origins: Annotated[
        list[str] | None,
        typer.Option("--cors-origin", metavar="URL", show_default=False,
                     help="Allow browser pages from this origin (repeat).",
                     rich_help_panel=SERVER),
    ] = None,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, metavar="N",
                         help="Most rows in one batched forward pass.",
                         rich_help_panel=SERVER)] = 32,
    batch_wait_ms: Annotated[float, typer.Option("--batch-wait-ms", min=0, metavar="MS",
                             help="How long a batch waits for more requests.",
                             rich_help_panel=SERVER)] = 5.0,
    max_texts: Annotated[int, typer.Option("--max-texts", min=1, metavar="N",
                         help="Most texts per request.", rich_help_panel=LIMITS)] = 64,
    max_chars: Annotated[int, typer.Option("--max-chars", min=1, metavar="N",
                         help="Most characters per text.", rich_help_panel=LIMITS)] = 10_000,
    max_body_bytes: Annotated[int, typer.Option("--max-body-bytes", min=1, metavar="N",
                              help="Largest request body.", rich_help_panel=LIMITS)] = 1_000_000,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, metavar="N",
                              help="Most new tokens a generation may ask for.",
                              rich_help_panel=LIMITS)] = 512,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
) -> None:
    """Serve the tasks over HTTP: JSON endpoints, OpenAI-compatible chat, a page at /.

    Example: nlpkit serve --port 8000   (then open http://127.0.0.1:8000/)
    """
    from nlpkit.serve import require_serve_extra

    require_serve_extra()
    from nlpkit.serve.engine import Engine, Settings, choose_models
    from nlpkit.serve.limits import Limits
    from nlpkit.serve.server import run_server

    chosen = choose_models(tasks or [], _task_models(models or []))
    engine = Engine(chosen, Settings(device, threads, max_batch, batch_wait_ms))
    start = _now()
    engine.load(lambda task, model, seconds: out.note(f"loaded {task}: {model} ({seconds:.1f} s)"))
    out.note(f"models ready in {_now() - start:.1f} s")
    limits = Limits(max_texts, max_chars, max_body_bytes, max_new_tokens)
    stopped = run_server(
        engine, host, port, limits, api_key, cors_origins or [],
        on_ready=lambda url: out.note(f"serving {', '.join(chosen)} on {url} "
                                      f"(page: {url}/, API docs: {url}/docs); Ctrl-C stops"),
    )
    out.note(f"stopped ({stopped})" if stopped else "stopped")


def _task_models(pairs: list[str]) -> dict[str, str]:
    from nlpkit.errors import UsageError

    found = {}
    for pair in pairs:
        task, sep, model = pair.partition("=")
        if not sep or not task.strip() or not model.strip():
            raise UsageError(f"--model {pair}: expected TASK=MODEL, e.g. classify=sentiment")
        found[task.strip()] = model.strip()
    return found


def _now() -> float:
    import time

    return time.perf_counter()
