"""What a request may ask, and who may ask: limits on texts, characters, body size and new
tokens, and the API key. Every violation is a 4xx JSON error, never a traceback."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from nlpkit.errors import InputError, UsageError

OPEN_PATHS = ("/", "/favicon.ico", "/health")  # the page (no data in it), its icon, health


@dataclass(frozen=True)
class Limits:
    max_texts: int = 64  # texts or prompts in one request
    max_chars: int = 10_000  # characters in one text, prompt or conversation
    max_body_bytes: int = 1_000_000
    max_new_tokens: int = 512  # the most a generation may ask for


class LimitError(UsageError):
    """A request over one of the server's limits (HTTP 413 for the body, else 400)."""


def check_texts(
    texts: Sequence[str], limits: Limits, field: str = "texts", empty_ok: bool = False
) -> list[str]:
    """``texts`` as a list, after checking count and length against ``limits``. A blank
    text is refused as the CLI and the library refuse it (HTTP 400 naming its index);
    ``empty_ok`` for the OpenAI-compatible endpoints, where an empty prompt is allowed."""
    if not texts:
        raise LimitError(f"{field} is empty; send at least one text", param=field)
    if len(texts) > limits.max_texts:
        raise LimitError(
            f"{field} has {len(texts)} items; this server takes at most {limits.max_texts} "
            "per request (send several requests)",
            param=field,
        )
    for i, text in enumerate(texts):
        if not (empty_ok or text.strip()):
            raise InputError(
                f"{field}[{i}] is empty; every text needs words (drop the empty ones)",
                param=field,
            )
        if len(text) > limits.max_chars:
            raise LimitError(
                f"{field}[{i}] has {len(text)} characters; the limit is {limits.max_chars}",
                param=field,
            )
    return list(texts)


def check_new_tokens(max_new_tokens: int | None, limits: Limits, field: str) -> None:
    if max_new_tokens is None:
        return
    if max_new_tokens < 1:
        raise LimitError(f"{field} must be at least 1, got {max_new_tokens}", param=field)
    if max_new_tokens > limits.max_new_tokens:
        raise LimitError(
            f"{field}={max_new_tokens} is over this server's cap of {limits.max_new_tokens} "
            "new tokens",
            param=field,
        )


def error_body(message: str, kind: str) -> dict:
    """The one error shape, as OpenAI's API writes it."""
    return {"error": {"message": message, "type": kind}}


class ApiKeyMiddleware:
    """Every path but the page and /health needs ``Authorization: Bearer KEY``."""

    def __init__(self, app, api_key: str) -> None:
        self.app = app
        self.key = api_key.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"")
            token = given[7:].strip() if given[:7].lower() == b"bearer " else b""
            if not hmac.compare_digest(token, self.key):
                from starlette.responses import JSONResponse

                message = "missing or wrong API key: send the header 'Authorization: Bearer KEY'"
                response = JSONResponse(
                    error_body(message, "authentication_error"),
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse a body over ``limit`` bytes: at once by its Content-Length, or as it arrives."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.exceptions import HTTPException
        from starlette.responses import JSONResponse

        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.limit:
            response = JSONResponse(error_body(self._message(), "request_too_large"), 413)
            await response(scope, receive, send)
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, self._message())
            return message

        await self.app(scope, counted, send)

    def _message(self) -> str:
        return f"request body is over this server's limit of {self.limit:,} bytes"
