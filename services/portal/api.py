"""The physicians' viewer's HTTP edge: the JSON API its page (``/``) calls.

The session cookie ``hl_session`` is the only credential the browser holds; every POST
carries the CSRF token (``page_sessions.py``, docs/portal.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from services.portal import handlers
from services.portal.domain import Session
from services.portal.handlers import Deps
from services.portal.page_sessions import Language, PageSessions, remember_language

SESSION_COOKIE = "hl_session"
PAGE: PageSessions[Session] = PageSessions("deps", SESSION_COOKIE)

router = APIRouter(prefix="/api", tags=["portal"])


class SignIn(BaseModel):
    licence: str = Field(pattern=r"^\d{3,8}$", description="Medical Council licence number")
    pin: str = Field(min_length=1, max_length=64)
    hospital: str = Field(pattern=r"^\d{5}$", description="the hospital to act for (hcode)")


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


@router.post("/session", dependencies=[CsrfDep])
async def create_session(
    body: SignIn, request: Request, response: Response, deps: DepsDep
) -> dict[str, Any]:
    """Sign in with licence, PIN and hospital (the query service decides)."""
    session_id, session = await handlers.sign_in(deps, body.licence, body.pin, body.hospital)
    return PAGE.opened(request, response, session_id, session, _view)


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
