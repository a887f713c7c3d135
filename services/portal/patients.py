"""The patient portal's use cases: register, consent, who viewed my record, the inbox
(no web framework here; docs/portal.md).

The patient's access token from the SMART sign-in at the auth service (the wallet's
code, session and face scan; ``patient_smart.py``) stays in the portal's session;
every call to consent, audit, notify and query carries it. When a back end says the
token is no longer good (401), the session ends and the page asks to sign in again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from services.portal import signins
from services.portal.domain import PendingSignIn
from services.portal.errors import BadCid
from services.portal.patient_backends import PatientApi
from services.portal.patient_views import (
    PatientSession,
    access_view,
    consent_view,
    hospital_rows,
    in_bangkok,
    inbox_view,
    names_of,
)
from services.portal.repository import MemorySessions, PageDeps, RecordApi, Sessions, as_signed_in
from services.portal.smart import SmartApp, revoke_quietly
from shared.cid import is_valid_cid

T = TypeVar("T")
PAGE = 20  # accesses and notifications per page


@dataclass(kw_only=True)
class PatientDeps(PageDeps[PatientSession]):
    api: PatientApi
    # the SMART sign-in at the auth service (patient_signin.py; None: not offered) and
    # the sign-ins sent there, by the ``hl_patient_signin`` cookie
    smart: SmartApp | None = None
    pending: Sessions[PendingSignIn] = field(default_factory=MemorySessions)
    # the query service, for "my record" with the patient's SMART token (None: not offered)
    query: RecordApi | None = None

    async def signed_out(self, session: PatientSession, ref: str) -> None:
        """A SMART session's refresh token revoked at the auth service (best effort)."""
        await revoke_quietly(self.smart, session.refresh_token, ref)


def _check_cid(cid: str) -> None:
    if not is_valid_cid(cid):
        raise BadCid("a CID is 13 digits with a valid check digit")


async def register(deps: PatientDeps, cid: str, birth_date: date) -> dict[str, Any]:
    """Join Health Link (the consent service checks: 18 or older, once per CID)."""
    _check_cid(cid)
    await deps.api.register(cid, birth_date.isoformat())
    return {"cid": cid, "registered": True}


async def as_patient(
    deps: PatientDeps, session_id: str | None, call: Callable[[PatientSession], Awaitable[T]]
) -> T:
    """Run ``call`` with the patient's session (its SMART token renewed when it ends
    soon); a token the back end refuses ends it."""

    async def renewed(session: PatientSession) -> T:
        return await call(await fresh(deps, session_id or "", session))

    return await as_signed_in(deps.sessions, session_id, renewed, "sign in first")


async def fresh(deps: PatientDeps, session_id: str, session: PatientSession) -> PatientSession:
    """The session with a token good for the next call (``signins.fresh``)."""
    return await signins.fresh(deps.smart, deps.sessions, session_id, session, deps.clock)


def _now(deps: PatientDeps) -> datetime:
    return datetime.fromtimestamp(deps.clock(), UTC)


async def hospitals(deps: PatientDeps) -> dict[str, Any]:
    """The participating hospitals with role and consent mode (public)."""
    return {"hospitals": hospital_rows(await deps.api.hospitals())}


async def _view(deps: PatientDeps, consent: dict[str, Any]) -> dict[str, Any]:
    return consent_view(consent, await deps.api.hospitals(), _now(deps))


async def consent(deps: PatientDeps, session_id: str | None) -> dict[str, Any]:
    async def read(s: PatientSession) -> dict[str, Any]:
        return await _view(deps, await deps.api.consent(s.token, s.cid))

    return await as_patient(deps, session_id, read)


async def change_consent(
    deps: PatientDeps,
    session_id: str | None,
    change: Callable[[PatientApi, PatientSession], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """One change of the consent; the screen gets the new state back."""

    async def apply(s: PatientSession) -> dict[str, Any]:
        return await _view(deps, await change(deps.api, s))

    return await as_patient(deps, session_id, apply)


async def grant_hospital(deps: PatientDeps, session_id: str | None, code: str) -> dict[str, Any]:
    return await change_consent(
        deps, session_id, lambda api, s: api.grant_hospital(s.token, s.cid, code)
    )


async def revoke_hospital(deps: PatientDeps, session_id: str | None, code: str) -> dict[str, Any]:
    return await change_consent(
        deps, session_id, lambda api, s: api.revoke_hospital(s.token, s.cid, code)
    )


async def all_hospitals(deps: PatientDeps, session_id: str | None, on: bool) -> dict[str, Any]:
    return await change_consent(
        deps, session_id, lambda api, s: api.all_hospitals(s.token, s.cid, on)
    )


async def sensitive(deps: PatientDeps, session_id: str | None, allowed: bool) -> dict[str, Any]:
    return await change_consent(
        deps, session_id, lambda api, s: api.sensitive(s.token, s.cid, allowed)
    )


async def add_visit(
    deps: PatientDeps,
    session_id: str | None,
    requesting: str,
    sources: list[str],
    until: datetime,
) -> dict[str, Any]:
    """A per-visit consent; an end time without an offset is Thai time."""
    end = in_bangkok(until)
    return await change_consent(
        deps,
        session_id,
        lambda api, s: api.add_visit(s.token, s.cid, requesting, sorted(set(sources)), end),
    )


async def revoke_visit(deps: PatientDeps, session_id: str | None, visit_id: str) -> dict[str, Any]:
    return await change_consent(
        deps, session_id, lambda api, s: api.revoke_visit(s.token, s.cid, visit_id)
    )


async def revoke_everything(deps: PatientDeps, session_id: str | None) -> dict[str, Any]:
    return await change_consent(
        deps, session_id, lambda api, s: api.revoke_everything(s.token, s.cid)
    )


async def accesses(deps: PatientDeps, session_id: str | None, offset: int) -> dict[str, Any]:
    """Who viewed my record, newest first, a page at a time, with hospital names."""

    async def read(s: PatientSession) -> dict[str, Any]:
        entries = await deps.api.accesses(s.token, s.cid, offset, PAGE + 1)
        names = names_of(await deps.api.hospitals())
        shown = [access_view(e, names) for e in entries[:PAGE]]
        return {"offset": offset, "entries": shown, "more": len(entries) > PAGE}

    return await as_patient(deps, session_id, read)


async def inbox(deps: PatientDeps, session_id: str | None, offset: int) -> dict[str, Any]:
    """The patient's notifications, newest first, a page at a time."""

    async def read(s: PatientSession) -> dict[str, Any]:
        entries = await deps.api.inbox(s.token, s.cid, offset, PAGE + 1)
        shown = [inbox_view(e) for e in entries[:PAGE]]
        return {"offset": offset, "entries": shown, "more": len(entries) > PAGE}

    return await as_patient(deps, session_id, read)


async def mark_read(deps: PatientDeps, session_id: str | None, notification_id: str) -> None:
    async def mark(s: PatientSession) -> None:
        await deps.api.mark_read(s.token, s.cid, notification_id)

    await as_patient(deps, session_id, mark)
