"""The web edge of authlib's core (the adapter authlib has for Flask and Django, here
for Starlette/FastAPI): read the form asynchronously and strictly, run the core in a
worker thread, and turn what it returns into a response.

Nothing a client sends reaches a 500: a form that is not UTF-8
``application/x-www-form-urlencoded`` within 64 KiB, or that holds control
characters, is an OAuth ``invalid_request``; an authlib ``OAuth2Error`` is its own
JSON; the database being down is ``temporarily_unavailable`` (503); anything else is
logged and answered ``invalid_request``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2 import OAuth2Error
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pymongo.errors import PyMongoError

from services.auth.handlers import Deps, in_thread
from services.auth.oauth import FormRequest, Pairs, Result
from shared.errors import HealthLinkError
from shared.logging import get_logger

log = get_logger(__name__)
MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 64
FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


# OAuth's own parameters are ASCII by definition (RFC 6749 Appendix A: VSCHAR, NQCHAR,
# URI-reference); authlib raises ValueError when it would echo a non-ASCII one in an
# error, so they are refused here as a bad request.
ASCII_PARAMS = frozenset(
    {
        "response_type", "grant_type", "client_id", "redirect_uri", "scope", "state", "aud",
        "nonce", "code", "code_challenge", "code_challenge_method", "code_verifier",
        "refresh_token", "launch", "ui_locales", "prompt", "token", "token_type_hint",
        "client_assertion", "client_assertion_type", "client_secret",
    }
)  # fmt: skip


class FormError(Exception):
    """The body is not a form this server reads."""


def clean_pairs(pairs: Pairs) -> Pairs:
    for key, value in pairs:
        for text in (key, value):
            if any((ord(ch) < 32 and ch not in "\t\r\n") or ord(ch) == 127 for ch in text):
                raise FormError("control characters in the form")
            if len(text) > 16_384:
                raise FormError("a form field is too long")
        if key in ASCII_PARAMS and not value.isascii():
            raise FormError(f"{key} must be ASCII")
    return pairs


async def read_form(request: Request) -> Pairs:
    """The form's ``(name, value)`` pairs, read whole (bounded) and decoded strictly."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != FORM:
        raise FormError(f"send {FORM}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormError("the form is too large")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError("the form is not UTF-8 form-urlencoded") from exc
    return clean_pairs(pairs)


def query_pairs(request: Request) -> Pairs:
    pairs = list(request.query_params.multi_items())
    if len(pairs) > MAX_FIELDS:
        raise FormError("too many parameters")
    return clean_pairs(pairs)


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def ascii_headers(request: Request) -> dict[str, str]:
    """The headers authlib may read, only when they are plain ASCII."""
    found = {}
    for name in ("authorization",):
        value = request.headers.get(name)
        if value is not None and value.isascii():
            found[name] = value
    return found


def result_response(result: Result) -> Response:
    status, body, headers = result
    if status in (301, 302, 303):
        location = dict(headers)["Location"]
        return RedirectResponse(location, status_code=302, headers=NO_STORE)
    extra = {k: v for k, v in headers if k.lower() != "content-type"}
    return JSONResponse(body, status_code=status, headers={**extra, **NO_STORE})


async def oauth_call(
    request: Request, deps: Deps, path: str, call: Callable[[FormRequest], Result]
) -> Response:
    """Read the form, run ``call`` (an ``AuthServer`` endpoint) in a worker thread."""
    try:
        pairs = await read_form(request)
        form = FormRequest("POST", deps.settings.auth_issuer + path, pairs, ascii_headers(request))
        return result_response(await in_thread(deps, call, form))
    except FormError as exc:
        return oauth_error("invalid_request", str(exc))
    except OAuth2Error as exc:
        return result_response(exc())
    except (PyMongoError, HealthLinkError) as exc:
        log.error("oauth endpoint failed", path=path, error=type(exc).__name__)
        return oauth_error("temporarily_unavailable", "try again shortly", 503)
    except Exception as exc:
        log.error("oauth request not processed", path=path, error=type(exc).__name__)
        return oauth_error("invalid_request", "the request could not be processed")


def html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def first(pairs: Pairs, name: str, default: str = "") -> str:
    for key, value in pairs:
        if key == name:
            return value
    return default


def last(pairs: Pairs, name: str, default: str = "") -> str:
    found = [value for key, value in pairs if key == name]
    return found[-1] if found else default


def describe(exc: Any) -> str:
    return str(getattr(exc, "description", None) or getattr(exc, "error", "") or exc)
