"""The FastAPI app: the task endpoints, health, models, the page, and one error shape.

Built by ``create_app`` over an Engine whose models are already loaded, so every app
(the real server, each test) answers at once. JSON in, JSON out; errors are
``{"error": {"message", "type"}}`` with a 4xx status for anything a client can fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from nlpkit import __version__
from nlpkit.errors import NlpkitError, UsageError
from nlpkit.serve.batcher import QueueFull
from nlpkit.serve.engine import Engine
from nlpkit.serve.events import error_type, internal_message, log
from nlpkit.serve.limits import (
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    Limits,
    error_body,
)
from nlpkit.serve.openai_api import openai_router
from nlpkit.tasks.pieces import pieces_of
from nlpkit.tasks.table import TASKS

HTTP_ERROR_TYPES = {401: "authentication_error", 404: "not_found_error", 413: "request_too_large"}


def create_app(
    engine: Engine,
    limits: Limits | None = None,
    api_key: str | None = None,
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    """The app over ``engine``; ``api_key`` guards every path but the page and /health."""
    limits = limits or Limits()
    app = FastAPI(title="nlpkit", version=__version__, summary="nlpkit's tasks over HTTP")
    app.state.engine, app.state.limits = engine, limits
    _add_error_handlers(app)
    app.include_router(_task_routes(engine, limits))
    app.include_router(openai_router(engine, limits))
    app.add_middleware(BodyLimitMiddleware, limit=limits.max_body_bytes)
    if api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=api_key)
    from nlpkit.serve.metrics import add_metrics

    add_metrics(app, engine)  # outside the key check: refused requests are counted too
    if cors_origins:  # added last: outermost, so preflight requests get their answer
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app


def _task_routes(engine: Engine, limits: Limits):
    from fastapi import APIRouter

    router = APIRouter()
    page = resources.files("nlpkit.serve").joinpath("page/index.html").read_text("utf-8")

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    @router.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)  # the page carries its icon inline; no 404 in logs

    @router.get("/health")
    async def health() -> dict:
        return {"status": "ok", "tasks": engine.tasks}

    @router.get("/v1/models")
    async def models() -> dict:
        served: dict[str, list[str]] = {}
        for command, model in engine.models.items():
            served.setdefault(model, []).append(command)
        data = [
            {"id": model, "object": "model", "created": 0, "owned_by": "nlpkit", "tasks": tasks}
            for model, tasks in served.items()
        ]
        return {"object": "list", "data": data}

    for task in TASKS:  # every task's endpoint: one not served answers 400, naming --task
        router.include_router(pieces_of(task).routes(engine, limits))
    return router


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NlpkitError)
    async def nlpkit_error(_request: Request, exc: NlpkitError) -> JSONResponse:
        if isinstance(exc, QueueFull):  # back-pressure: come back later, not a failure
            headers = {"Retry-After": str(exc.retry_after)}
            return JSONResponse(error_body(str(exc), "overloaded_error"), 503, headers)
        status = 400 if isinstance(exc, UsageError) else 500
        return JSONResponse(error_body(str(exc), error_type(exc)), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"] if part != "body")
            problems.append(f"{where}: {error['msg']}" if where else error["msg"])
        return JSONResponse(error_body("; ".join(problems), "invalid_request_error"), 400)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        kind = HTTP_ERROR_TYPES.get(exc.status_code, "invalid_request_error")
        return JSONResponse(error_body(str(exc.detail), kind), exc.status_code, exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("request failed", exc_info=exc)
        return JSONResponse(error_body(internal_message(exc), "server_error"), 500)
