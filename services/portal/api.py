"""The physicians' viewer's HTTP edge: the sign-in's two browser stops (``/signin`` to
the auth service, ``/callback`` back from it) and the JSON API its page (``/``) calls.

The session cookie ``hl_session`` is the only credential the browser holds; every POST
carries the CSRF token (``page_sessions.py``, docs/portal.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from services.portal import handlers
from services.portal.domain import Session
from services.portal.handlers import Deps
from services.portal.page_sessions import (
    Language,
    PageSessions,
    SignInDoors,
    page_language,
    remember_language,
)

SESSION_COOKIE = "hl_session"
SIGNIN_COOKIE = "hl_signin"  # the pending sign-in: SameSite=Lax, for the way back
CALLBACK = "/callback"
PAGE: PageSessions[Session] = PageSessions("deps", SESSION_COOKIE)
DOORS = SignInDoors("viewer", "/", SIGNIN_COOKIE, CALLBACK, SESSION_COOKIE)

router = APIRouter(prefix="/api", tags=["portal"])
signin = APIRouter(tags=["portal"])


DepsDep = Annotated[Deps, Depends(PAGE.deps)]
CsrfDep = Depends(PAGE.check_csrf)


def _view(session: Session | None, lang: str, csrf: str) -> dict[str, Any]:
    return {
        "signed_in": session is not None,
        "licence": session.licence if session else None,
        "hospital": session.hospital if session else None,
        "lang": lang,
        "csrf": csrf,
    }


@router.get("/session")
async def read_session(request: Request, response: Response) -> dict[str, Any]:
    """Who is signed in, the page's language (cookie, else Accept-Language, else Thai) and
    the CSRF token the page sends with its POSTs."""
    return await PAGE.answer(request, response, _view)


@signin.get("/signin", status_code=303, response_class=RedirectResponse)
async def read_signin(request: Request, deps: DepsDep) -> RedirectResponse:
    """Sign in: to the auth service's ``/authorize`` (SMART, code + PKCE, in the page's
    language); the state and verifier stay here, behind the ``hl_signin`` cookie. When
    the auth service cannot be reached, back to the viewer with the failure's code
    (``?signin-error=signin-failed``), as ``/callback`` does: a page, not a JSON error."""
    return await DOORS.start(request, handlers.start_sign_in(deps, page_language(request)))


@signin.get(CALLBACK, status_code=303, response_class=RedirectResponse)
async def read_callback(
    request: Request,
    deps: DepsDep,
    state: Annotated[str, Query(max_length=200)] = "",
    code: Annotated[str, Query(max_length=500)] = "",
    error: Annotated[str, Query(max_length=100)] = "",
) -> RedirectResponse:
    """The auth service's answer: the code traded for the token here (it never reaches
    the browser), then the viewer; a failure goes to the viewer with its code
    (``?signin-error=signin-state`` …), which the page says in the reader's language."""
    params = {"state": state, "code": code, "error": error}
    pending = request.cookies.get(SIGNIN_COOKIE)
    finished = handlers.finish_sign_in(deps, pending, params)
    return await DOORS.finish(request, finished, deps.session_ttl_s)


@router.post("/session/end", dependencies=[CsrfDep])
async def end_session(request: Request, response: Response) -> dict[str, Any]:
    """Sign out: the session and its token are forgotten."""
    return await PAGE.end(request, response, _view)


@router.post("/language", dependencies=[CsrfDep])
async def choose_language(body: Language, request: Request, response: Response) -> dict[str, str]:
    """Remember the page's language (Thai or English) for a year."""
    return remember_language(request, response, body.lang)


@router.get("/patients/{cid}/record")
async def read_record(
    cid: Annotated[str, Path(max_length=13)], request: Request, deps: DepsDep
) -> dict[str, Any]:
    """The patient's record grouped by resource type, as the query service allows it
    (403 with the reason when it refuses: no consent, not on the roster…)."""
    return await handlers.record(deps, PAGE.sid(request), cid)


class BreakGlass(BaseModel):
    reason: str = Field(min_length=10, max_length=1000)


@router.post("/patients/{cid}/break-glass", dependencies=[CsrfDep])
async def declare_break_glass(
    cid: Annotated[str, Path(max_length=13)], body: BreakGlass, request: Request, deps: DepsDep
) -> dict[str, Any]:
    """Break-glass: declare an emergency for the patient at the query service, with a
    written reason (10 to 1000 characters); audited there and the patient is told. The
    answer says until when (``until``); the page then reads the record again."""
    return await handlers.break_glass(deps, PAGE.sid(request), cid, body.reason)
