"""GET /metrics in Prometheus' text format (``prometheus-client``): requests by endpoint
and status, request latency, rows per batch, rows waiting, requests refused for a full
queue and new tokens generated, per model.

Each app has its own registry, so several apps in one process (tests) never collide.
With several worker processes (``nlpkit serve --workers``) the supervisor sets
``PROMETHEUS_MULTIPROC_DIR`` and every worker writes its values there, so a scrape
that reaches any one worker reads the sum over all of them (prometheus-client's
multiprocess mode, as under gunicorn).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from nlpkit.serve.generation import Completion

if TYPE_CHECKING:
    from fastapi import FastAPI

    from nlpkit.serve.batcher import Batcher
    from nlpkit.serve.engine import Engine

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A classify request takes milliseconds, a generation seconds: buckets for both.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServeMetrics:
    """The server's Prometheus metrics and what feeds them."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        own = {"registry": self.registry}
        self.requests = Counter(
            "nlpkit_requests",
            "HTTP requests by endpoint and status.",
            ["endpoint", "status"],
            **own,
        )
        self.latency = Histogram(
            "nlpkit_request_seconds",
            "Seconds from request to the end of the response, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            **own,
        )
        self.batch_rows = Histogram(
            "nlpkit_batch_rows",
            "Rows per batched forward pass.",
            ["model"],
            buckets=BATCH_BUCKETS,
            **own,
        )
        self.batch_seconds = Histogram(
            "nlpkit_batch_seconds", "Seconds per batch.", ["model"], buckets=LATENCY_BUCKETS, **own
        )
        self.queue_rows = Gauge(
            "nlpkit_queue_rows",
            "Rows waiting for a batch.",
            ["model"],
            multiprocess_mode="livesum",
            **own,
        )
        self.tokens = Counter("nlpkit_generated_tokens", "New tokens generated.", ["model"], **own)

    def follow(self, engine: Engine) -> None:
        """Observe every batcher of ``engine``."""
        for model, batcher in engine.batchers.items():
            self._follow(model, batcher)

    def _follow(self, model: str, batcher: Batcher) -> None:
        waiting = self.queue_rows.labels(model)
        waiting.set(0)
        rows, seconds = self.batch_rows.labels(model), self.batch_seconds.labels(model)
        tokens = self.tokens.labels(model)

        def ran(jobs: list, results: list[Any], took: float) -> None:
            rows.observe(sum(job.size for job in jobs))
            seconds.observe(took)
            made = sum(r.new_tokens for r in results if isinstance(r, Completion))
            if made:
                tokens.inc(made)

        batcher.on_queue, batcher.on_batch = waiting.set, ran

    def exposition(self) -> tuple[bytes, str]:
        """The text a scrape gets, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if os.environ.get(MULTIPROCESS_ENV):
            from prometheus_client import multiprocess

            every_worker = CollectorRegistry()
            multiprocess.MultiProcessCollector(every_worker)
            return generate_latest(every_worker), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestMetricsMiddleware:
    """Counts every HTTP request and times it to the end of its response (streams too)."""

    def __init__(self, app, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def seen(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, seen)
        finally:  # an exception here becomes the 500 that the outer handler sends
            endpoint = _endpoint(scope)
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)


def _endpoint(scope) -> str:
    """The matched route's path (never the raw path: unknown paths would each add a series)."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def add_metrics(app: FastAPI, engine: Engine) -> ServeMetrics:
    """GET /metrics on ``app``, and the middleware and batcher hooks that feed it."""
    from fastapi import Response

    metrics = ServeMetrics()
    metrics.follow(engine)

    @app.get("/metrics", include_in_schema=False)
    async def scrape() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    return metrics
