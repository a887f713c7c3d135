"""The portal's use cases: sign in, look a patient up, sign out (no web framework here)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.portal.domain import Session, group_record
from services.portal.errors import BadCid, NotSignedIn
from services.portal.patients import PatientDeps
from services.portal.repository import QueryApi, Sessions
from shared.cid import is_valid_cid


@dataclass
class Deps:
    sessions: Sessions[Session]
    query: QueryApi
    session_ttl_s: int = 900
    clock: Callable[[], float] = field(default=time.time)
    # the patient portal's own sessions and back ends (patients.py); None: the HTTP ones
    patients: PatientDeps | None = None


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


async def session_of(deps: Deps, session_id: str | None) -> Session:
    session = await deps.sessions.find(session_id) if session_id else None
    if session is None:
        raise NotSignedIn("sign in first")
    return session


async def record(deps: Deps, session_id: str | None, cid: str) -> dict[str, Any]:
    """The patient's record as the query service lets this physician see it, grouped."""
    session = await session_of(deps, session_id)
    if not is_valid_cid(cid):
        raise BadCid("a CID is 13 digits with a valid check digit")
    try:
        bundle = await deps.query.everything(session.token, cid)
    except NotSignedIn:
        if session_id:
            await deps.sessions.close(session_id)
        raise
    return {"cid": cid, **group_record(bundle)}


async def sign_out(deps: Deps, session_id: str | None) -> None:
    if session_id:
        await deps.sessions.close(session_id)
