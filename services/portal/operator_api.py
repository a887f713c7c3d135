"""The operator view's HTTP edge: its page under ``/operator/…`` and the JSON API the
page calls under ``/api/operator/…`` (docs/portal.md#the-operator-view).

Operators and auditors sign in with their named token (``healthlink operators token
NAME``); it stays in the portal and the browser holds only ``hl_operator`` (HttpOnly,
SameSite=Strict, Path ``/api/operator``). Every request that changes something carries
the CSRF token in ``x-csrf-token`` (the session's, or before sign-in the anonymous
page's).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from services.portal import operators
from services.portal.operators import Action, OperatorDeps, OperatorSession
from services.portal.page_sessions import Language, PageSessions, remember_language
from services.portal.pages import serve_page

OPERATOR_COOKIE = "hl_operator"
COOKIE_PATH = "/api/operator"
SCREENS = ("hospitals", "letters", "status")

router = APIRouter(prefix="/api/operator", tags=["operator view"])
pages = APIRouter(include_in_schema=False)

CodePath = Annotated[str, Path(pattern=r"^\d{5}$", description="the hospital's code (hcode)")]
KidPath = Annotated[str, Path(min_length=1, max_length=64, description="the key's kid")]
LetterPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,64}$", description="a dead letter")]
ServicePath = Annotated[str, Path(pattern=r"^[a-z]{3,12}$", description="a service")]
Cursor = Annotated[str, Query(max_length=4096, pattern=r"^[A-Za-z0-9_=-]*$")]


class SignIn(BaseModel):
    token: str = Field(
        pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
        max_length=8192,
        description="a named operator's or auditor's access token (a JWT)",
    )


class NewHospital(BaseModel):
    code: str = Field(pattern=r"^\d{5}$", description="5-digit MOPH hospital code")
    name: str = Field(min_length=1, max_length=200)
    role: Literal["consumer", "provider"] = "consumer"
    consent_mode: Literal["standing", "per-visit"] = "standing"


class HospitalChange(BaseModel):
    action: Action


class Retry(BaseModel):
    topic: str = Field(pattern=r"^[a-z0-9._-]{1,200}$", description="the letter's source topic")


PAGE: PageSessions[OperatorSession] = PageSessions("operator_deps", OPERATOR_COOKIE, COOKIE_PATH)
OperatorDepsDep = Annotated[OperatorDeps, Depends(PAGE.deps)]
Csrf = [Depends(PAGE.check_csrf)]
Sid = Annotated[str | None, Depends(PAGE.sid)]  # the session's id, from its cookie


def _view(session: OperatorSession | None, lang: str, csrf: str) -> dict[str, Any]:
    return {
        "signed_in": session is not None,
        "name": session.name if session else None,
        "roles": list(session.roles) if session else [],
        "may_change": session.may_change if session else False,
        "expires_at": session.expires_at if session else None,
        "lang": lang,
        "csrf": csrf,
    }


@router.get("/session")
async def read_session(request: Request, response: Response) -> dict[str, Any]:
    """Who is signed in (name, roles), the page's language and its CSRF token."""
    return await PAGE.answer(request, response, _view)


@router.post("/session", dependencies=Csrf)
async def create_session(
    body: SignIn, request: Request, response: Response, deps: OperatorDepsDep
) -> dict[str, Any]:
    """Sign in with a named operator's or auditor's token (checked as the services do)."""
    session_id, session = await operators.sign_in(deps, body.token)
    return PAGE.opened(request, response, session_id, session, _view)


@router.post("/session/end", dependencies=Csrf)
async def end_session(request: Request, response: Response) -> dict[str, Any]:
    """Sign out: the session and the token are forgotten."""
    return await PAGE.end(request, response, _view)


@router.post("/language", dependencies=Csrf)
async def choose_language(body: Language, request: Request, response: Response) -> dict[str, str]:
    """Remember the page's language (Thai or English) for a year."""
    return remember_language(request, response, body.lang)


@router.get("/hospitals")
async def read_hospitals(deps: OperatorDepsDep, sid: Sid) -> dict[str, Any]:
    """Every participating hospital: code, name, role, consent mode, active, and its
    upload signing keys (kid, algorithm)."""
    return await operators.hospitals(deps, sid)


@router.post("/hospitals", status_code=status.HTTP_201_CREATED, dependencies=Csrf)
async def create_hospital(body: NewHospital, deps: OperatorDepsDep, sid: Sid) -> dict[str, Any]:
    """Add a participating hospital (consent; 409 ``already-registered``)."""
    return await operators.add_hospital(deps, sid, body.model_dump())


@router.post("/hospitals/{code}/change", dependencies=Csrf)
async def update_hospital(
    code: CodePath, body: HospitalChange, deps: OperatorDepsDep, sid: Sid
) -> dict[str, Any]:
    """Promote to provider, suspend or reinstate (an auditor: 403 ``forbidden``)."""
    return await operators.change_hospital(deps, sid, code, body.action)


@router.delete("/hospitals/{code}/signing-keys/{kid}", dependencies=Csrf)
async def delete_signing_key(
    code: CodePath, kid: KidPath, deps: OperatorDepsDep, sid: Sid
) -> dict[str, Any]:
    """Remove a hospital's upload signing key: the hospital with the keys left (404
    ``key-not-found`` for a kid it does not have; an auditor: 403 ``forbidden``)."""
    return await operators.remove_signing_key(deps, sid, code, kid)


@router.get("/services/{service}/letters")
async def read_letters(
    service: ServicePath, deps: OperatorDepsDep, sid: Sid, cursor: Cursor = ""
) -> dict[str, Any]:
    """A page of what the service set aside, oldest first (``cursor``: the page's ``next``)."""
    return await operators.letters(deps, sid, service, cursor)


@router.post("/letters/{letter_id}/retry", dependencies=Csrf)
async def create_retry(
    letter_id: LetterPath, body: Retry, deps: OperatorDepsDep, sid: Sid
) -> dict[str, Any]:
    """Send a dead letter back to its topic through the service that owns it."""
    return await operators.retry(deps, sid, letter_id, body.topic)


@router.get("/audit")
async def read_audit(deps: OperatorDepsDep, sid: Sid) -> dict[str, Any]:
    """The audit log verified now (the audit service's ``/audit/verify``)."""
    return await operators.audit(deps, sid)


@router.get("/status")
async def read_status(deps: OperatorDepsDep, sid: Sid) -> dict[str, Any]:
    """Each service's readiness and key metrics."""
    return await operators.status(deps, sid)


serve_page(pages, "/operator", "operator", SCREENS)
