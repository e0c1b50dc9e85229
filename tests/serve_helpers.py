"""Shared by the serve tests: a tiny chat model and a real uvicorn server in a thread."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def tiny_chat_model(gpt2: str, folder: Path) -> str:
    """The tiny GPT-2 with a chat template, so the chat endpoints have a chat model."""
    shutil.copytree(gpt2, folder)
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    return str(folder)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(app, timeout: float = 20):
    """Serve ``app`` with uvicorn on 127.0.0.1 in this process; yields the base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


@contextmanager
def serving(models: dict[str, str], api_key: str | None = None, **settings):
    """An Engine for ``models`` on one CPU thread (``settings`` beside), loaded and served
    on 127.0.0.1; yields (base URL, engine) and closes the engine afterwards."""
    from nlpkit.serve.app import create_app
    from nlpkit.serve.engine import Engine, Settings

    engine = Engine(models, Settings(device="cpu", threads=1, **settings))
    engine.load()
    try:
        with running(create_app(engine, api_key=api_key)) as url:
            yield url, engine
    finally:
        engine.close()


def slow_recorded_generation(monkeypatch, generation) -> list:
    """Each token takes 20 ms (a tiny model is too quick to hang up on); returns the list
    the finished completions are added to."""
    finished: list = []
    real_put, real_batch = generation.RowTracker.put, generation.generate_batch

    def slow_put(self, value):
        time.sleep(0.02)
        real_put(self, value)

    def recording(loaded, jobs, sampling):
        finished.extend(real_batch(loaded, jobs, sampling))
        return finished[-len(jobs) :]

    monkeypatch.setattr(generation.RowTracker, "put", slow_put)
    monkeypatch.setattr(generation, "generate_batch", recording)
    return finished
