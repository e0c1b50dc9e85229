"""Server-sent events and the error wording shared by every streaming endpoint."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse

from nlpkit.errors import NlpkitError, UsageError
from nlpkit.serve.limits import error_body

log = logging.getLogger("nlpkit.serve")


def event_stream(events: AsyncIterator[dict]) -> StreamingResponse:
    """Server-sent events: one ``data: JSON`` line per event, then ``data: [DONE]``. An
    error after the stream began is sent as an error event (the status is already 200)."""

    async def lines() -> AsyncIterator[str]:
        try:
            async for event in events:
                yield f"data: {json.dumps(event)}\n\n"
        except NlpkitError as exc:
            yield f"data: {json.dumps(error_body(str(exc), error_type(exc)))}\n\n"
        except Exception as exc:  # the client cannot fix this: say so, log the rest
            log.exception("stream failed")
            yield f"data: {json.dumps(error_body(internal_message(exc), 'server_error'))}\n\n"
        yield "data: [DONE]\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(lines(), media_type="text/event-stream", headers=headers)


def error_type(exc: NlpkitError) -> str:
    return "invalid_request_error" if isinstance(exc, UsageError) else "server_error"


def internal_message(exc: Exception) -> str:
    return f"internal error ({type(exc).__name__}); the server log has the details"
