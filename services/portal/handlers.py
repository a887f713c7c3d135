"""The physicians' viewer's use cases: sign in, look a patient up (no web framework here;
signing out is the page's session ending, ``page_sessions.py``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from services.portal.domain import Session, group_record
from services.portal.errors import BadCid
from services.portal.hospitals import HospitalDeps
from services.portal.operators import OperatorDeps
from services.portal.patients import PatientDeps
from services.portal.repository import PageDeps, QueryApi, as_signed_in
from shared.cid import is_valid_cid


@dataclass(kw_only=True)
class Deps(PageDeps[Session]):
    query: QueryApi
    # the patient portal's own sessions and back ends (patients.py); None: the HTTP ones
    patients: PatientDeps | None = None
    # the hospital console's (hospitals.py); None: the HTTP ones
    hospitals: HospitalDeps | None = None
    # the operator view's (operators.py); None: the HTTP ones
    operators: OperatorDeps | None = None


async def sign_in(deps: Deps, licence: str, pin: str, hospital: str) -> tuple[str, Session]:
    """The query service checks licence, PIN, roster and lockout; the token it gives
    stays in the session (never sent to the browser). Returns the session's id."""
    token, expires_in = await deps.query.sign_in(licence, pin, hospital)
    ttl = min(deps.session_ttl_s, expires_in)
    session = Session(
        token=token,
        licence=licence,
        hospital=hospital,
        csrf=secrets.token_urlsafe(32),
        expires_at=deps.clock() + ttl,
    )
    return await deps.sessions.open(session), session


async def record(deps: Deps, session_id: str | None, cid: str) -> dict[str, Any]:
    """The patient's record as the query service lets this physician see it, grouped."""

    async def read(session: Session) -> dict[str, Any]:
        if not is_valid_cid(cid):
            raise BadCid("a CID is 13 digits with a valid check digit")
        bundle = await deps.query.everything(session.token, cid)
        return {"cid": cid, **group_record(bundle)}

    return await as_signed_in(deps.sessions, session_id, read, "sign in first")
