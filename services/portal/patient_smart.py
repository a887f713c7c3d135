"""The patient portal's SMART sign-in and "my record" (no web framework here;
docs/portal.md, "The patient portal").

The patient signs in on the auth service's page (CID → a code to the phone → the face
scan): ``start_sign_in`` sends the browser there (code + PKCE, ``state``, ``aud``),
``finish_sign_in`` trades the code for the patient's access token server-side and opens
the patient's ``PatientSession``; the token stays in the portal. With it
the portal calls consent, audit and notify (``shared/http.patient_of``) and reads the
patient's own record at the query service (``record``, ``export``).
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime
from typing import Any

from services.portal.domain import PendingSignIn, group_record
from services.portal.errors import (
    QueryUnavailable,
    SignInDenied,
    SignInExpired,
    SignInFailed,
    SignInState,
    SmartRequired,
)
from services.portal.patient_views import PatientSession
from services.portal.patients import PatientDeps, as_patient
from services.portal.repository import RecordApi
from services.portal.smart import SmartApp

PENDING_TTL_S = 600  # as long as the auth service keeps a pending sign-in


def _smart(deps: PatientDeps) -> SmartApp:
    if deps.smart is None:
        raise SignInFailed("the patient portal has no sign-in service")
    return deps.smart


async def start_sign_in(deps: PatientDeps, lang: str) -> tuple[str, str]:
    """A new sign-in: its state and PKCE verifier kept here; the pending sign-in's id
    (the ``hl_patient_signin`` cookie) and the auth service's authorization URL."""
    pending = PendingSignIn(
        state=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(64),
        expires_at=deps.clock() + PENDING_TTL_S,
    )
    url = await _smart(deps).authorization_url(pending.state, pending.verifier, lang)
    return await deps.pending.open(pending), url


async def finish_sign_in(
    deps: PatientDeps, pending_id: str | None, params: dict[str, str]
) -> tuple[str, PatientSession]:
    """The auth service sent the browser back: the state checked, the code traded for
    the patient's token (server-side), the session opened. Used once."""
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
    signed_in = await _smart(deps).exchange(params["code"], pending.verifier)
    if not signed_in.patient:
        raise SignInFailed("the sign-in named no patient")
    now = deps.clock()
    # with a refresh token the session lasts its own lifetime, else the access token's
    lasts = signed_in.expires_in if signed_in.refresh_token is None else deps.session_ttl_s
    session = PatientSession(
        token=signed_in.token,
        cid=signed_in.patient,
        csrf=secrets.token_urlsafe(32),
        expires_at=now + min(deps.session_ttl_s, lasts),
        refresh_token=signed_in.refresh_token,
        token_expires_at=now + signed_in.expires_in,
        smart=True,
    )
    return await deps.sessions.open(session), session


def _query(deps: PatientDeps, session: PatientSession) -> RecordApi:
    if deps.query is None:
        raise QueryUnavailable("the patient portal does not read records here")
    if not session.smart:  # only the auth service's token reads at the query service
        raise SmartRequired("sign in with Health Link's sign-in to see your record")
    return deps.query


async def record(deps: PatientDeps, session_id: str | None) -> dict[str, Any]:
    """The patient's own record, every page, grouped by resource type."""

    async def read(s: PatientSession) -> dict[str, Any]:
        bundle = await _query(deps, s).everything_pages(s.token, s.cid)
        return {"cid": s.cid, **group_record(bundle)}

    return await as_patient(deps, session_id, read)


async def export(deps: PatientDeps, session_id: str | None) -> dict[str, Any]:
    """The patient's own record as one FHIR Bundle (a collection), every page."""

    async def read(s: PatientSession) -> dict[str, Any]:
        bundle = await _query(deps, s).everything_pages(s.token, s.cid)
        stamp = datetime.fromtimestamp(deps.clock(), UTC).isoformat(timespec="seconds")
        return {**bundle, "timestamp": stamp}

    return await as_patient(deps, session_id, read)
