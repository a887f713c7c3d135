"""The patient portal's HTTP edge: its page under ``/patient/…`` and the JSON API the page
calls under ``/api/patient/…`` (docs/portal.md).

The patient's session cookie ``hl_patient`` (HttpOnly, SameSite=Strict, Path
``/api/patient``) is the only credential the browser holds; the patient token stays in
the portal. Every request that changes something carries the CSRF token in
``x-csrf-token`` (the session's, or before the sign-in the anonymous page's). Patients
sign in with Health Link (``patient_smart_api.py``: the auth service's wallet sign-in);
the consent service's verification answers only the auth service.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from services.portal import patients
from services.portal.page_sessions import Language, PageSessions, remember_language
from services.portal.pages import serve_page
from services.portal.patient_views import PatientSession
from services.portal.patients import PatientDeps

PATIENT_COOKIE = "hl_patient"
COOKIE_PATH = "/api/patient"
SCREENS = ("consent", "record", "accesses", "inbox")

router = APIRouter(prefix="/api/patient", tags=["patient portal"])
pages = APIRouter(include_in_schema=False)

Cid = Annotated[str, Field(pattern=r"^\d{13}$", description="13-digit Thai national ID")]
Hcode = Annotated[str, Field(pattern=r"^\d{5}$", description="5-digit hospital code")]
CodePath = Annotated[str, Path(pattern=r"^\d{5}$")]
IdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:+-]{1,200}$")]
Offset = Annotated[int, Query(ge=0, le=100_000)]


class Registration(BaseModel):
    cid: Cid
    birth_date: date


class Choice(BaseModel):
    on: bool


class HospitalChoice(BaseModel):
    code: Hcode


class VisitChoice(BaseModel):
    requesting_hospital: Hcode
    sources: list[Hcode] = Field(min_length=1, max_length=500)
    until: datetime = Field(description="the consent's end; without an offset, Thai time")


PAGE: PageSessions[PatientSession] = PageSessions("patient_deps", PATIENT_COOKIE, COOKIE_PATH)
PatientDepsDep = Annotated[PatientDeps, Depends(PAGE.deps)]
Csrf = [Depends(PAGE.check_csrf)]
_sid = PAGE.sid


def _view(
    deps: PatientDeps, session: PatientSession | None, lang: str, csrf: str
) -> dict[str, Any]:
    return {
        "signed_in": session is not None,
        "cid": session.cid if session else None,
        "lang": lang,
        "csrf": csrf,
    }


@router.get("/session")
async def read_session(
    request: Request, response: Response, deps: PatientDepsDep
) -> dict[str, Any]:
    """Who is signed in, the page's language and the CSRF token."""
    return await PAGE.answer(request, response, partial(_view, deps))


@router.post("/register", status_code=status.HTTP_201_CREATED, dependencies=Csrf)
async def create_registration(body: Registration, deps: PatientDepsDep) -> dict[str, Any]:
    """Join Health Link: CID and birth date (18 or older, once per CID)."""
    return await patients.register(deps, body.cid, body.birth_date)


@router.post("/session/end", dependencies=Csrf)
async def end_session(request: Request, response: Response, deps: PatientDepsDep) -> dict[str, Any]:
    """Sign out: the session and the patient's token are forgotten."""
    return await PAGE.end(request, response, partial(_view, deps))


@router.post("/language", dependencies=Csrf)
async def choose_language(body: Language, request: Request, response: Response) -> dict[str, str]:
    """Remember the page's language (Thai or English) for a year."""
    return remember_language(request, response, body.lang)


@router.get("/hospitals")
async def read_hospitals(deps: PatientDepsDep) -> dict[str, Any]:
    """The participating hospitals with role and consent mode (public)."""
    return await patients.hospitals(deps)


@router.get("/consent")
async def read_consent(request: Request, deps: PatientDepsDep) -> dict[str, Any]:
    """The consent: all hospitals, sensitive data, each hospital chosen or not, visits."""
    return await patients.consent(deps, _sid(request))


@router.post("/consent/hospitals", dependencies=Csrf)
async def create_hospital_consent(
    body: HospitalChoice, request: Request, deps: PatientDepsDep
) -> dict[str, Any]:
    """Let one more hospital send and share the patient's records."""
    return await patients.grant_hospital(deps, _sid(request), body.code)


@router.delete("/consent/hospitals/{code}", dependencies=Csrf)
async def delete_hospital_consent(
    code: CodePath, request: Request, deps: PatientDepsDep
) -> dict[str, Any]:
    """Withdraw one hospital."""
    return await patients.revoke_hospital(deps, _sid(request), code)


@router.put("/consent/all", dependencies=Csrf)
async def update_all_consent(
    body: Choice, request: Request, deps: PatientDepsDep
) -> dict[str, Any]:
    """All hospitals, including those that join later: on or off."""
    return await patients.all_hospitals(deps, _sid(request), body.on)


@router.put("/consent/sensitive", dependencies=Csrf)
async def update_sensitive(body: Choice, request: Request, deps: PatientDepsDep) -> dict[str, Any]:
    """Sensitive data shown or hidden."""
    return await patients.sensitive(deps, _sid(request), body.on)


@router.post("/consent/visits", status_code=status.HTTP_201_CREATED, dependencies=Csrf)
async def create_visit_consent(
    body: VisitChoice, request: Request, deps: PatientDepsDep
) -> dict[str, Any]:
    """A per-visit consent: the hospital of the visit may read these sources until then."""
    return await patients.add_visit(
        deps, _sid(request), body.requesting_hospital, body.sources, body.until
    )


@router.delete("/consent/visits/{visit_id}", dependencies=Csrf)
async def delete_visit_consent(
    visit_id: IdPath, request: Request, deps: PatientDepsDep
) -> dict[str, Any]:
    """End one per-visit consent now."""
    return await patients.revoke_visit(deps, _sid(request), visit_id)


@router.delete("/consent", dependencies=Csrf)
async def delete_consent(request: Request, deps: PatientDepsDep) -> dict[str, Any]:
    """Withdraw everything: every hospital, all hospitals, every per-visit consent."""
    return await patients.revoke_everything(deps, _sid(request))


@router.get("/accesses")
async def read_accesses(
    request: Request, deps: PatientDepsDep, offset: Offset = 0
) -> dict[str, Any]:
    """Who viewed my record: physician, hospital, time, what, break-glass and reason."""
    return await patients.accesses(deps, _sid(request), offset)


@router.get("/inbox")
async def read_inbox(request: Request, deps: PatientDepsDep, offset: Offset = 0) -> dict[str, Any]:
    """The patient's notifications, newest first."""
    return await patients.inbox(deps, _sid(request), offset)


@router.post("/inbox/{notification_id}/read", dependencies=Csrf)
async def update_read(
    notification_id: IdPath, request: Request, deps: PatientDepsDep
) -> dict[str, Any]:
    """Mark a notification read."""
    await patients.mark_read(deps, _sid(request), notification_id)
    return {"id": notification_id, "read": True}


serve_page(pages, "/patient", "patient", SCREENS)
