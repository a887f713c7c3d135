"""The physicians' viewer's use cases: sign in through the auth service (SMART on FHIR,
``smart.py``), look a patient up (no web framework here; signing out is the page's
session ending, ``page_sessions.py``, then ``Deps.signed_out``: the refresh token
revoked at the auth service)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from services.portal import signins
from services.portal.domain import PendingSignIn, Session, group_record
from services.portal.errors import (
    BadCid,
)
from services.portal.hospitals import HospitalDeps
from services.portal.operators import OperatorDeps
from services.portal.patients import PatientDeps
from services.portal.repository import MemorySessions, PageDeps, QueryApi, Sessions, as_signed_in
from services.portal.smart import SmartApp, revoke_quietly
from services.portal.viewer_views import record_views
from shared.cid import is_valid_cid


@dataclass(kw_only=True)
class Deps(PageDeps[Session]):
    query: QueryApi
    smart: SmartApp
    # sign-ins sent to the auth service, by the ``hl_signin`` cookie
    pending: Sessions[PendingSignIn] = field(default_factory=MemorySessions)
    # the patient portal's own sessions and back ends (patients.py); None: the HTTP ones
    patients: PatientDeps | None = None
    # the hospital console's (hospitals.py); None: the HTTP ones
    hospitals: HospitalDeps | None = None
    # the operator view's (operators.py); None: the HTTP ones
    operators: OperatorDeps | None = None

    async def signed_out(self, session: Session, ref: str) -> None:
        """The session's refresh token revoked at the auth service (best effort)."""
        await revoke_quietly(self.smart, session.refresh_token, ref)


async def start_sign_in(deps: Deps, lang: str) -> tuple[str, str]:
    """A new sign-in (``signins.begin``): the pending sign-in's id (the ``hl_signin``
    cookie) and the auth service's authorization URL."""
    return await signins.begin(deps.pending, deps.smart, deps.clock(), lang)


async def finish_sign_in(
    deps: Deps, pending_id: str | None, params: dict[str, str]
) -> tuple[str, Session]:
    """The auth service sent the browser back: the code traded (``signins.trade``) and
    the physician's session opened."""
    signed_in = await signins.trade(deps.pending, deps.smart, pending_id, params)
    now = deps.clock()
    session = Session(
        token=signed_in.token,
        licence=signed_in.licence,
        hospital=signed_in.hospital,
        csrf=secrets.token_urlsafe(32),
        expires_at=now + signins.lifetime(signed_in, deps.session_ttl_s),
        refresh_token=signed_in.refresh_token,
        token_expires_at=now + signed_in.expires_in,
    )
    return await deps.sessions.open(session), session


async def fresh(deps: Deps, session_id: str, session: Session) -> Session:
    """The session with an access token good for the next read (``signins.fresh``)."""
    return await signins.fresh(deps.smart, deps.sessions, session_id, session, deps.clock)


async def record(deps: Deps, session_id: str | None, cid: str) -> dict[str, Any]:
    """The patient's record as the query service lets this physician see it, grouped."""

    async def read(session: Session) -> dict[str, Any]:
        if not is_valid_cid(cid):
            raise BadCid("a CID is 13 digits with a valid check digit")
        session = await fresh(deps, session_id or "", session)
        bundle = await deps.query.everything(session.token, cid)
        return {"cid": cid, **group_record(bundle), **record_views(bundle)}

    return await as_signed_in(deps.sessions, session_id, read, "sign in first")


async def break_glass(deps: Deps, session_id: str | None, cid: str, reason: str) -> dict[str, Any]:
    """An emergency declared for the patient at the query service (audited there, the
    patient told): its records readable until ``until``."""

    async def declare(session: Session) -> dict[str, Any]:
        if not is_valid_cid(cid):
            raise BadCid("a CID is 13 digits with a valid check digit")
        session = await fresh(deps, session_id or "", session)
        found = await deps.query.break_glass(session.token, cid, reason.strip())
        return {"cid": cid, "until": str(found.get("until", ""))}

    return await as_signed_in(deps.sessions, session_id, declare, "sign in first")
