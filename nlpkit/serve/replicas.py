"""What every copy of the server builds for itself: one spec, one app per process.

``nlpkit serve --workers N`` (uvicorn worker processes) and ``--engine ray --replicas
N`` (Ray Serve replicas) run N copies of the same FastAPI app, each with its own
models and batching queues. The command builds an AppSpec once; each worker or
replica turns it into an app with ``build_app``, and names itself in the
``x-nlpkit-replica`` header of every response, so a client (or a test) sees who answered.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nlpkit.devices import cpu_cores
from nlpkit.serve.engine import Settings
from nlpkit.serve.limits import Limits

if TYPE_CHECKING:
    from fastapi import FastAPI

REPLICA_HEADER = "x-nlpkit-replica"


@dataclass(frozen=True)
class AppSpec:
    """Everything a server process needs to build its app (plain data: JSON or pickle)."""

    models: dict[str, str]
    settings: Settings = field(default_factory=Settings)
    limits: Limits = field(default_factory=Limits)
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> AppSpec:
        data = json.loads(text)
        return cls(
            data["models"],
            Settings(**data["settings"]),
            Limits(**data["limits"]),
            data["api_key"],
            tuple(data["cors_origins"]),
        )

    def split_threads(self, copies: int) -> AppSpec:
        """Each of ``copies`` processes on this machine gets cores / copies threads,
        unless threads were given: N processes with every core each would fight for them."""
        if self.settings.threads is not None:
            return self
        threads = max(1, cpu_cores() // copies)
        return dataclasses.replace(
            self, settings=dataclasses.replace(self.settings, threads=threads)
        )


def build_app(
    spec: AppSpec,
    replica: str,
    on_loaded: Callable[[str, str, float], None] | None = None,
) -> FastAPI:
    """Load the spec's models and build the app; every response names ``replica``."""
    from nlpkit.serve.app import create_app
    from nlpkit.serve.engine import Engine

    engine = Engine(spec.models, spec.settings)
    engine.load(on_loaded)
    app = create_app(engine, spec.limits, spec.api_key, spec.cors_origins)
    app.add_middleware(ReplicaHeaderMiddleware, name=replica)
    return app


class ReplicaHeaderMiddleware:
    """Adds ``x-nlpkit-replica: NAME`` to every response."""

    def __init__(self, app, name: str) -> None:
        self.app = app
        self.header = (REPLICA_HEADER.encode(), name.encode())

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, named)
