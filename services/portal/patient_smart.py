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

import secrets
from datetime import UTC, datetime
from typing import Any

from services.portal import signins
from services.portal.domain import group_record
from services.portal.errors import (
    QueryUnavailable,
    SignInFailed,
    SmartRequired,
)
from services.portal.patient_views import PatientSession
from services.portal.patients import PatientDeps, as_patient
from services.portal.repository import RecordApi
from services.portal.smart import SmartApp


def _smart(deps: PatientDeps) -> SmartApp:
    if deps.smart is None:
        raise SignInFailed("the patient portal has no sign-in service")
    return deps.smart


async def start_sign_in(deps: PatientDeps, lang: str) -> tuple[str, str]:
    """A new sign-in (``signins.begin``): the pending sign-in's id (the
    ``hl_patient_signin`` cookie) and the auth service's authorization URL."""
    return await signins.begin(deps.pending, _smart(deps), deps.clock(), lang)


async def finish_sign_in(
    deps: PatientDeps, pending_id: str | None, params: dict[str, str]
) -> tuple[str, PatientSession]:
    """The auth service sent the browser back: the code traded (``signins.trade``) and
    the patient's session opened."""
    signed_in = await signins.trade(deps.pending, deps.smart, pending_id, params)
    if not signed_in.patient:
        raise SignInFailed("the sign-in named no patient")
    now = deps.clock()
    session = PatientSession(
        token=signed_in.token,
        cid=signed_in.patient,
        csrf=secrets.token_urlsafe(32),
        expires_at=now + signins.lifetime(signed_in, deps.session_ttl_s),
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
