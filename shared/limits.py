"""Request body limits for every service, enforced before any handler reads or parses.

``BodyLimit`` is a pure ASGI middleware: a request whose ``Content-Length`` passes the
limit is answered 413 before the app runs; a body sent without a length (chunked) is
read by the middleware first, counting chunks, and answered 413 as soon as the count
passes the limit (otherwise the app gets the body it would have streamed, whole, so
no exception ever crosses the app). A body longer than it declared is counted the same way.
``HEALTHLINK_MAX_BODY_BYTES`` (default 1 MiB) is the limit; a service may give single
paths a larger one (ingest's ``POST /fhir`` keeps ``HEALTHLINK_MAX_BUNDLE_BYTES``).
The answer is a FHIR ``OperationOutcome`` on ``/fhir`` paths and a JSON error elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.fhir import FHIR_JSON, operation_outcome


def too_large(path: str, limit: int, status: int = 413) -> JSONResponse:
    detail = f"body exceeds {limit} bytes" if status == 413 else "Content-Length is not a number"
    if path == "/fhir" or path.startswith("/fhir/"):
        return JSONResponse(operation_outcome(status, detail), status, media_type=FHIR_JSON)
    error = "request_too_large" if status == 413 else "invalid_request"
    return JSONResponse({"error": error, "detail": detail, "error_description": detail}, status)


class BodyLimit:
    """See the module docstring. ``larger``: exact paths with a limit of their own."""

    def __init__(self, app: ASGIApp, limit: int, larger: Mapping[str, int] | None = None) -> None:
        if limit <= 0:
            raise ValueError("a body limit must be positive")
        self.app = app
        self.limit = limit
        self.larger = dict(larger or {})

    def limit_for(self, path: str) -> int:
        return self.larger.get(path, self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = self.limit_for(path)
        declared = _content_length(scope)
        if declared is not None and declared < 0:
            await too_large(path, limit, 400)(scope, receive, send)
            return
        if declared is not None and declared > limit:
            await too_large(path, limit)(scope, receive, send)
            return

        # Read here, counting chunks (chunked bodies, and bodies longer than declared):
        # the app runs only with a body within the limit, replayed whole.
        buffered = await _read_up_to(receive, limit)
        if buffered is None:
            await too_large(path, limit)(scope, receive, send)
            return
        await self.app(scope, _replay(buffered, receive), send)


async def _read_up_to(receive: Receive, limit: int) -> Message | None:
    """The whole body as one message, or None once it passes ``limit`` (or the client
    left: then the app sees the disconnect)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message if not chunks else None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


def _replay(first: Message, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return first
        return await receive()

    return replay


def _content_length(scope: Scope) -> int | None:
    """The declared length; -1 when it is present but not a plain decimal number."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            text = value.strip()
            # ASCII digits only (b"\xb2".isdigit() is false for bytes; keep it explicit).
            if not text or len(text) > 19 or not all(48 <= b <= 57 for b in text):
                return -1
            return int(text)
    return None
