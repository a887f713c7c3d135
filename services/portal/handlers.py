"""The physicians' viewer's use cases: sign in through the auth service (SMART on FHIR,
``smart.py``), look a patient up (no web framework here; signing out is the page's
session ending, ``page_sessions.py``, then ``Deps.signed_out``: the refresh token
revoked at the auth service)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from services.portal.domain import PendingSignIn, Session, group_record
from services.portal.errors import (
    BadCid,
    NotSignedIn,
    SignInDenied,
    SignInExpired,
    SignInFailed,
    SignInState,
)
from services.portal.hospitals import HospitalDeps
from services.portal.operators import OperatorDeps
from services.portal.patients import PatientDeps
from services.portal.repository import MemorySessions, PageDeps, QueryApi, Sessions, as_signed_in
from services.portal.smart import SmartApp, revoke_quietly
from shared.cid import is_valid_cid

PENDING_TTL_S = 600  # as long as the auth service keeps a pending sign-in
RENEW_S = 30  # an access token ending sooner than this is renewed before a read


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
    """A new sign-in: its state and PKCE verifier kept here; returns the pending
    sign-in's id (the ``hl_signin`` cookie) and the auth service's authorization URL."""
    pending = PendingSignIn(
        state=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(64),
        expires_at=deps.clock() + PENDING_TTL_S,
    )
    url = await deps.smart.authorization_url(pending.state, pending.verifier, lang)
    return await deps.pending.open(pending), url


async def finish_sign_in(
    deps: Deps, pending_id: str | None, params: dict[str, str]
) -> tuple[str, Session]:
    """The auth service sent the browser back: check the state, trade the code for the
    token (server-side) and open the session. The pending sign-in is used once."""
    pending = await deps.pending.find(pending_id) if pending_id else None
    if pending is None:
        raise SignInExpired("no sign-in is pending in this browser: start again")
    if not hmac.compare_digest(params.get("state", "").encode(), pending.state.encode()):
        raise SignInState("the sign-in's state does not match: start again")
    await deps.pending.close(pending_id or "")
    error = params.get("error")
    if error == "access_denied":
        raise SignInDenied("the sign-in was cancelled")
    if error or not params.get("code"):
        raise SignInFailed(f"the sign-in service answered {(error or 'no code')[:40]!r}")
    signed_in = await deps.smart.exchange(params["code"], pending.verifier)
    now = deps.clock()
    # with a refresh token the session lasts its own lifetime, else the access token's
    lasts = signed_in.expires_in if signed_in.refresh_token is None else deps.session_ttl_s
    session = Session(
        token=signed_in.token,
        licence=signed_in.licence,
        hospital=signed_in.hospital,
        csrf=secrets.token_urlsafe(32),
        expires_at=now + min(deps.session_ttl_s, lasts),
        refresh_token=signed_in.refresh_token,
        token_expires_at=now + signed_in.expires_in,
    )
    return await deps.sessions.open(session), session


async def fresh(deps: Deps, session_id: str, session: Session) -> Session:
    """The session with an access token good for the next read: renewed with the refresh
    token (rotated) when it ends within ``RENEW_S``; refused: ``NotSignedIn``."""
    if session.refresh_token is None or session.token_expires_at - RENEW_S > deps.clock():
        return session
    try:
        renewed = await deps.smart.refresh(session.refresh_token)
    except SignInFailed as exc:
        raise NotSignedIn("the sign-in could not be renewed: sign in again") from exc
    session = replace(
        session,
        token=renewed.token,
        refresh_token=renewed.refresh_token or session.refresh_token,
        token_expires_at=deps.clock() + renewed.expires_in,
    )
    await deps.sessions.replace(session_id, session)
    return session


async def record(deps: Deps, session_id: str | None, cid: str) -> dict[str, Any]:
    """The patient's record as the query service lets this physician see it, grouped."""

    async def read(session: Session) -> dict[str, Any]:
        if not is_valid_cid(cid):
            raise BadCid("a CID is 13 digits with a valid check digit")
        session = await fresh(deps, session_id or "", session)
        bundle = await deps.query.everything(session.token, cid)
        return {"cid": cid, **group_record(bundle)}

    return await as_signed_in(deps.sessions, session_id, read, "sign in first")
