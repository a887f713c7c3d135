"""The hospital console's HTTP edge: its page under ``/hospital/…`` and the JSON API the
page calls under ``/api/hospital/…`` (docs/portal.md#the-hospital-console).

Hospital staff sign in with the hospital's code and admin key; the key stays in the
portal and the browser holds only ``hl_hospital`` (HttpOnly, SameSite=Strict, Path
``/api/hospital``). Every request that changes something carries the CSRF token in
``x-csrf-token`` (the session's, or before sign-in the anonymous page's).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from services.portal import hospital_keys, hospitals
from services.portal.hospitals import HospitalDeps, HospitalSession
from services.portal.page_sessions import Language, PageSessions, remember_language
from services.portal.pages import serve_page

HOSPITAL_COOKIE = "hl_hospital"
COOKIE_PATH = "/api/hospital"
SCREENS = ("physicians", "uploads", "requests", "keys")

router = APIRouter(prefix="/api/hospital", tags=["hospital console"])
pages = APIRouter(include_in_schema=False)

LicencePath = Annotated[str, Path(pattern=r"^\d{3,8}$", description="Medical Council licence")]
KidPath = Annotated[str, Path(pattern=r"^[\x21-\x7e]{1,64}$", description="a signing key's kid")]
LetterPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,64}$", description="a dead letter")]
Cursor = Annotated[
    str, Query(pattern=r"^[A-Za-z0-9_-]{0,4096}$", description="the `next` of the page before")
]


class SignIn(BaseModel):
    hospital: str = Field(pattern=r"^\d{5}$", description="the hospital's code (hcode)")
    key: str = Field(
        pattern=r"^[\x21-\x7e]{16,512}$", description="the hospital's admin key (from consent)"
    )


class Physician(BaseModel):
    licence: str = Field(pattern=r"^\d{3,8}$", description="Medical Council licence number")


class NewSigningKey(BaseModel):
    jwk: dict[str, Any] = Field(
        description="the public JWK (EC P-256, with a kid), or a JWK set holding one; "
        "a private key is refused (422 private-key) and never sent on"
    )


PAGE: PageSessions[HospitalSession] = PageSessions("hospital_deps", HOSPITAL_COOKIE, COOKIE_PATH)
HospitalDepsDep = Annotated[HospitalDeps, Depends(PAGE.deps)]
Csrf = [Depends(PAGE.check_csrf)]
Answer = dict[str, Any]
Sid = Annotated[str | None, Depends(PAGE.sid)]  # the session's id, from its cookie


def _view(session: HospitalSession | None, lang: str, csrf: str) -> dict[str, Any]:
    who = (session.hospital, session.name) if session else (None, None)
    return {"signed_in": session is not None, "hospital": who[0], "name": who[1],
            "lang": lang, "csrf": csrf}  # fmt: skip


@router.get("/session")
async def read_session(request: Request, response: Response) -> dict[str, Any]:
    """Which hospital is signed in, the page's language and its CSRF token."""
    return await PAGE.answer(request, response, _view)


@router.post("/session", dependencies=Csrf)
async def create_session(
    body: SignIn, request: Request, response: Response, deps: HospitalDepsDep
) -> dict[str, Any]:
    """Sign in with the hospital's code and admin key (query's roster API checks it)."""
    session_id, session = await hospitals.sign_in(deps, body.hospital, body.key)
    return PAGE.opened(request, response, session_id, session, _view)


@router.post("/session/end", dependencies=Csrf)
async def end_session(request: Request, response: Response) -> dict[str, Any]:
    """Sign out: the session and the admin key are forgotten."""
    return await PAGE.end(request, response, _view)


@router.post("/language", dependencies=Csrf)
async def choose_language(body: Language, request: Request, response: Response) -> dict[str, str]:
    """Remember the page's language (Thai or English) for a year."""
    return remember_language(request, response, body.lang)


@router.get("/physicians")
async def read_roster(deps: HospitalDepsDep, sid: Sid) -> dict[str, Any]:
    """This hospital's roster: the licences that may sign in for it."""
    return await hospitals.roster(deps, sid)


@router.post("/physicians", status_code=status.HTTP_201_CREATED, dependencies=Csrf)
async def create_roster_entry(body: Physician, deps: HospitalDepsDep, sid: Sid) -> dict[str, Any]:
    """Add a physician by licence (404 ``unknown-licence``, 409 ``already-on-roster``)."""
    return await hospitals.add_physician(deps, sid, body.licence)


@router.delete("/physicians/{licence}", dependencies=Csrf)
async def delete_roster_entry(
    licence: LicencePath, deps: HospitalDepsDep, sid: Sid
) -> dict[str, Any]:
    """Take a physician off the roster: their next request is refused."""
    return await hospitals.remove_physician(deps, sid, licence)


@router.get("/uploads/set-aside")
async def read_set_aside(deps: HospitalDepsDep, sid: Sid, cursor: Cursor = "") -> dict[str, Any]:
    """A page of this hospital's uploads set aside, with their reasons, pending first;
    ``next`` is the ``cursor`` of the page after (null at the end)."""
    return await hospitals.set_aside(deps, sid, cursor)


@router.post("/uploads/set-aside/{letter_id}/retry", dependencies=Csrf)
async def create_retry(letter_id: LetterPath, deps: HospitalDepsDep, sid: Sid) -> dict[str, Any]:
    """Send one of this hospital's set-aside uploads back to ingest."""
    return await hospitals.retry(deps, sid, letter_id)


@router.get("/data-requests")
async def read_data_requests(
    deps: HospitalDepsDep,
    sid: Sid,
    cursor: Annotated[str, Query(max_length=4096, pattern=r"^[A-Za-z0-9_-]*$")] = "",
) -> dict[str, Any]:
    """The data requests Health Link made of this hospital, oldest first, a page at a time
    (``cursor``: the ``next`` of the page before)."""
    return await hospitals.data_requests(deps, sid, cursor)


@router.get("/signing-keys")
async def read_signing_keys(deps: HospitalDepsDep, sid: Sid) -> dict[str, Any]:
    """This hospital's upload signing keys (public halves): ``{hospital, keys: [{kid, …}]}``."""
    return await hospital_keys.signing_keys(deps, sid)


@router.post("/signing-keys", status_code=status.HTTP_201_CREATED, dependencies=Csrf)
async def create_signing_key(body: NewSigningKey, deps: HospitalDepsDep, sid: Sid) -> Answer:
    """Register a public signing key (consent ``POST /hospitals/{code}/signing-keys``):
    422 ``invalid-key``/``private-key``/``kid-dash``, 409 ``kid-in-use``/``too-many-keys``."""
    return await hospital_keys.add_signing_key(deps, sid, body.jwk)


@router.delete("/signing-keys/{kid}", dependencies=Csrf)
async def delete_signing_key(kid: KidPath, deps: HospitalDepsDep, sid: Sid) -> Answer:
    """Remove a signing key: uploads signed with it are set aside from the next one on
    (404 ``key-not-found``)."""
    return await hospital_keys.remove_signing_key(deps, sid, kid)


@router.post("/admin-key", status_code=status.HTTP_201_CREATED, dependencies=Csrf)
async def create_admin_key(deps: HospitalDepsDep, sid: Sid) -> Answer:
    """A new admin key, in this answer only (``admin_key``); the session switches to it;
    ``taken``: query and ingest take it already."""
    return await hospital_keys.rotate_admin_key(deps, sid)


serve_page(pages, "/hospital", "hospital", SCREENS)
