"""The HTTP edge shared by every service: one error map, health checks, auth headers.

Every error leaves as a FHIR ``OperationOutcome`` with the status its class names;
request validation errors are 400s; nothing becomes a 500 on bad input.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import tokens
from shared.auth import bearer_token
from shared.errors import Forbidden, HealthLinkError, Transient, Unauthorized
from shared.fhir import FHIR_JSON, operation_outcome
from shared.logging import CORRELATION_HEADER, get_logger, set_correlation_id
from shared.operators import changer_of, operator_of, token_verifier

log = get_logger(__name__)


def outcome_response(status: int, detail: str) -> JSONResponse:
    return JSONResponse(operation_outcome(status, detail), status_code=status, media_type=FHIR_JSON)


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to a status and an OperationOutcome, once, at the edge."""

    @app.exception_handler(HealthLinkError)
    async def _domain(_: Request, exc: HealthLinkError) -> JSONResponse:
        response = outcome_response(exc.status, exc.detail)
        if isinstance(exc, Transient):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        if isinstance(exc, Unauthorized):  # a credential is missing or bad (RFC 6750 §3)
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return outcome_response(400, _describe(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return outcome_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", error=type(exc).__name__)
        return outcome_response(500, "internal error")


_CORRELATION = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def correlation_of(given: str | None) -> str:
    """The caller's correlation id when it is a plain token (letters, digits, ``._:-``,
    at most 128), else a new one: a bad id is replaced, never echoed into headers or
    logs."""
    if given and _CORRELATION.fullmatch(given):
        return given
    return uuid.uuid4().hex


class Correlation:
    """Pure ASGI middleware: take the caller's correlation id (``correlation_of``) or make
    one, set it for the request's logs and echo it in the response. Pure ASGI rather than
    ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` runs the app in a
    second task with memory streams, a measurable share of a small request's time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = correlation_of(Headers(scope=scope).get(CORRELATION_HEADER))
        set_correlation_id(cid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[CORRELATION_HEADER] = cid
            await send(message)

        await self.app(scope, receive, send_with_id)


def install_correlation(app: FastAPI) -> None:
    """Every request gets a correlation id (``Correlation``)."""
    app.add_middleware(Correlation)


def bearer(request: Request) -> str:
    """The bearer token of a request, or ``Unauthorized`` (missing, not ASCII, too long:
    ``shared.auth.bearer_token``)."""
    return bearer_token(request.headers.get("authorization"))


def health_routes(app: FastAPI, ready: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    """``/healthz`` (alive) and ``/readyz`` (broker and database answer)."""

    @app.get("/healthz", tags=["health"])
    async def read_health() -> dict[str, str]:
        """Alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def read_ready() -> JSONResponse:
        """Ready when the broker and the database answer."""
        checks = await ready()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not-ready", "checks": checks},
            status_code=200 if ok else 503,
        )


async def patient_of(request: Request) -> str:
    """The CID of the patient holding the request's token: an access token of the auth
    service (``app.state.token_verifier``) signed in by the patient themselves
    (``patient`` claim = the CID, ``fhirUser`` = ``Patient/<CID>``, a ``patient/``
    scope; a physician's token launched with a patient is not the patient), or the
    consent service's HMAC patient token (``shared/tokens.py``, until phase 2 ends it).
    Anything else is ``Unauthorized`` (401)."""
    token = bearer(request)
    if token.count(".") == 1:  # payload.mac: the HMAC token; an access token is a JWS
        settings = request.app.state.settings
        return str(tokens.verify(settings.token_secret, tokens.PATIENT, token)["sub"])
    principal = await token_verifier(request).verify(token)
    cid = principal.patient
    if not cid or principal.fhir_user != f"Patient/{cid}":
        raise Unauthorized("a patient's own token is required")
    if not any(scope.context == "patient" for scope in principal.scopes):
        raise Unauthorized("the token has no patient/ scope")
    return cid


def same_patient(cid: str, token_cid: str) -> None:
    if cid != token_cid:
        raise Forbidden("a patient may act only on their own CID")


# Operators' endpoints take the caller from ``shared.operators``: ``ChangerDep`` (the
# operator role) for changes, ``ReaderDep`` (operator or auditor) for reads.
OperatorDep = Depends(changer_of)
AuditorDep = Depends(operator_of)
PatientDep = Annotated[str, Depends(patient_of)]
