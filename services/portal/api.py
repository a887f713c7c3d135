"""The portal's HTTP edge: the page and its files, and the JSON API the page calls.

The session cookie is the only credential the browser holds (HttpOnly, SameSite=Strict,
Secure over https); every POST carries the CSRF token in ``x-csrf-token`` and, when the
browser sends one, an ``Origin`` of this site (docs/portal.md).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from services.portal import handlers
from services.portal.domain import Session, language_of
from services.portal.errors import CsrfRefused
from services.portal.handlers import Deps

SESSION_COOKIE = "hl_session"
CSRF_COOKIE = "hl_csrf"
LANG_COOKIE = "hl_lang"
CSRF_HEADER = "x-csrf-token"

router = APIRouter(prefix="/api", tags=["portal"])


class SignIn(BaseModel):
    licence: str = Field(pattern=r"^\d{3,8}$", description="Medical Council licence number")
    pin: str = Field(min_length=1, max_length=64)
    hospital: str = Field(pattern=r"^\d{5}$", description="the hospital to act for (hcode)")


class Language(BaseModel):
    lang: Literal["th", "en"]


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


DepsDep = Annotated[Deps, Depends(get_deps)]


def _secure(request: Request) -> bool:
    return bool(request.app.state.settings.portal_cookie_secure) or request.url.scheme == "https"


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int, path: str = "/"
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


async def _session(deps: Deps, request: Request) -> Session | None:
    session_id = request.cookies.get(SESSION_COOKIE)
    return await deps.sessions.find(session_id) if session_id else None


def check_page_token(request: Request, session_csrf: str | None) -> None:
    """Same origin (when the browser says), and the CSRF token of the session (signed
    in) or of the anonymous page (the ``hl_csrf`` cookie) in ``x-csrf-token``."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise CsrfRefused("this request did not come from the portal's page")
    expected = session_csrf or request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get(CSRF_HEADER, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfRefused("the page's CSRF token is missing or wrong: reload the page")


async def check_csrf(request: Request, deps: DepsDep) -> None:
    """A POST is this page's (``check_page_token``, with the physician's session)."""
    session = await _session(deps, request)
    check_page_token(request, session.csrf if session else None)


CsrfDep = Depends(check_csrf)


def _view(session: Session | None, lang: str, csrf: str) -> dict[str, Any]:
    return {
        "signed_in": session is not None,
        "licence": session.licence if session else None,
        "hospital": session.hospital if session else None,
        "lang": lang,
        "csrf": csrf,
    }


@router.get("/session")
async def read_session(request: Request, response: Response, deps: DepsDep) -> dict[str, Any]:
    """Who is signed in, the page's language (cookie, else Accept-Language, else Thai) and
    the CSRF token the page sends with its POSTs."""
    session = await _session(deps, request)
    lang = language_of(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    if session:
        return _view(session, lang, session.csrf)
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    set_cookie(request, response, CSRF_COOKIE, csrf, 86_400)
    return _view(None, lang, csrf)


@router.post("/session", dependencies=[CsrfDep])
async def create_session(
    body: SignIn, request: Request, response: Response, deps: DepsDep
) -> dict[str, Any]:
    """Sign in with licence, PIN and hospital (the query service decides)."""
    session_id, session = await handlers.sign_in(deps, body.licence, body.pin, body.hospital)
    set_cookie(request, response, SESSION_COOKIE, session_id, deps.session_ttl_s)
    lang = language_of(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    return _view(session, lang, session.csrf)


@router.post("/session/end", dependencies=[CsrfDep])
async def end_session(request: Request, response: Response, deps: DepsDep) -> dict[str, Any]:
    """Sign out: the session and its token are forgotten."""
    await handlers.sign_out(deps, request.cookies.get(SESSION_COOKIE))
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    csrf = secrets.token_urlsafe(32)
    set_cookie(request, response, CSRF_COOKIE, csrf, 86_400)
    lang = language_of(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    return _view(None, lang, csrf)


@router.post("/language", dependencies=[CsrfDep])
async def choose_language(body: Language, request: Request, response: Response) -> dict[str, str]:
    """Remember the page's language (Thai or English) for a year."""
    set_cookie(request, response, LANG_COOKIE, body.lang, 365 * 86_400)
    return {"lang": body.lang}


@router.get("/patients/{cid}/record")
async def read_record(
    cid: Annotated[str, Path(max_length=13)], request: Request, deps: DepsDep
) -> dict[str, Any]:
    """The patient's record grouped by resource type, as the query service allows it
    (403 with the reason when it refuses: no consent, not on the roster…)."""
    return await handlers.record(deps, request.cookies.get(SESSION_COOKIE), cid)
