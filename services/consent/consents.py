"""Consent use cases: standing, per-visit and sensitive-data consent; expiry; data requests.

Every change is one versioned ``consent.*`` event keyed by CID carrying the full
resulting state. When a change newly lets a provider hospital send the patient's
data, a ``data.requested`` event (key: hospital code) goes out with it, from the
same outbox write, asking that hospital to send the patient's records.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.consent import domain, fhir
from services.consent.domain import (
    ConsentState,
    PerVisitConsent,
    check_cid,
    check_hcode,
    check_visit_end,
)
from services.consent.handlers import (
    Change,
    Deps,
    Stored,
    change,
    event,
    require_hospitals,
    require_patient,
)
from shared.events import (
    ConsentChanged,
    ConsentGranted,
    ConsentRevoked,
    DataRequested,
    Envelope,
    PerVisitExpired,
    PerVisitGranted,
    PerVisitRevoked,
    SensitiveChanged,
)
from shared.logging import get_logger

log = get_logger(__name__)
Edit = Callable[[ConsentState], ConsentState]


def data_request(cid: str, hospital: str, reason: str, event_id: str, now: datetime) -> Envelope:
    """Ask ``hospital`` to send ``cid``'s records (idempotent id: duplicates are the same)."""
    payload = DataRequested(patient=cid, hospital=hospital, reason=reason, time=now)
    return event(payload, hospital, event_id=event_id)


def public(cid: str, stored: Stored) -> dict[str, Any]:
    state = ConsentState.model_validate(stored.state).model_dump(mode="json")
    return {"cid": cid, "version": stored.version, **state}


async def update_consent(
    deps: Deps, cid: str, made: type[ConsentChanged], edit: Edit, widens: bool = True
) -> dict[str, Any]:
    """Apply ``edit``; a change that ``widens`` the consent may request data from providers.

    Revocations pass ``widens=False``: they cover nothing new, so they skip the
    provider lookup (one database round trip less on the revocation path).
    """
    check_cid(cid)
    current = await deps.repo.get("consents", cid)
    if current[0] == 0:  # a stored consent implies a registered patient
        await require_patient(deps, cid)
    now = deps.clock()
    providers = await deps.repo.providers() if widens else []

    def apply(version: int, doc: dict[str, Any]) -> Change | None:
        before = ConsentState.model_validate(doc)
        after = edit(before)
        if after == before:
            return None
        new = sorted(after.senders(now, providers) - before.senders(now, providers))
        requests = [
            data_request(cid, code, made.NAME, f"datareq-{cid}-{code}-v{version + 1}", now)
            for code in new
        ]
        return Change(after, fields={"next_expiry": after.next_expiry()}, extra=requests)

    return public(cid, await change(deps, "consents", cid, made, apply, current))


async def grant_hospitals(deps: Deps, cid: str, codes: set[str]) -> dict[str, Any]:
    await require_hospitals(deps, codes)
    return await update_consent(deps, cid, ConsentGranted, lambda s: domain.grant(s, codes))


async def revoke_hospitals(deps: Deps, cid: str, codes: set[str]) -> dict[str, Any]:
    for code in codes:
        check_hcode(code)
    return await update_consent(
        deps, cid, ConsentRevoked, lambda s: domain.revoke(s, codes), widens=False
    )


async def grant_all(deps: Deps, cid: str) -> dict[str, Any]:
    return await update_consent(deps, cid, ConsentGranted, domain.grant_all)


async def revoke_standing(deps: Deps, cid: str) -> dict[str, Any]:
    return await update_consent(deps, cid, ConsentRevoked, domain.revoke_standing, widens=False)


async def revoke_all(deps: Deps, cid: str) -> dict[str, Any]:
    return await update_consent(deps, cid, ConsentRevoked, domain.revoke_all, widens=False)


async def set_sensitive(deps: Deps, cid: str, allowed: bool) -> dict[str, Any]:
    edit: Edit = lambda s: domain.with_sensitive(s, allowed)  # noqa: E731
    return await update_consent(deps, cid, SensitiveChanged, edit)


async def grant_visit(
    deps: Deps, cid: str, requesting: str, sources: set[str], until: datetime
) -> dict[str, Any]:
    """A per-visit consent: ``requesting`` may read ``sources`` until ``until``."""
    await require_patient(deps, cid)
    end = check_visit_end(until, deps.clock())
    await require_hospitals(deps, {requesting, *sources})
    visit = PerVisitConsent(
        id=uuid.uuid4().hex, requesting_hospital=requesting, sources=tuple(sources), until=end
    )
    result = await update_consent(deps, cid, PerVisitGranted, lambda s: domain.add_visit(s, visit))
    return {**result, "visit": visit.model_dump(mode="json")}


async def revoke_visit(deps: Deps, cid: str, visit_id: str) -> dict[str, Any]:
    edit: Edit = lambda s: domain.revoke_visit(s, visit_id)  # noqa: E731
    return await update_consent(deps, cid, PerVisitRevoked, edit, widens=False)


async def expire_visits(deps: Deps, cid: str) -> bool:
    """Drop per-visit consents whose end time has come: one event, whichever instance wins.

    Safe with several instances: the write is a compare-and-set on the version, and
    the loser re-reads a state with nothing left to expire, so it publishes nothing.
    """
    now = deps.clock()

    def apply(version: int, doc: dict[str, Any]) -> Change | None:
        state = ConsentState.model_validate(doc)
        expired = domain.expired(state, now)
        if not expired:
            return None
        after = domain.drop_expired(state, now)
        fields = {"next_expiry": after.next_expiry()}
        return Change(after, data={"expired": expired}, fields=fields)

    stored = await change(deps, "consents", cid, PerVisitExpired, apply)
    return stored.changed


async def expire_due(deps: Deps) -> int:
    """One round of the expiry loop; returns how many consents changed."""
    changed = 0
    for cid in await deps.repo.due_expiries(deps.clock()):
        changed += await expire_visits(deps, cid)
    if changed:
        log.info("per-visit consents expired", patients=changed)
    return changed


async def read_consent(deps: Deps, cid: str) -> dict[str, Any]:
    await require_patient(deps, cid)
    version, state = await deps.repo.get("consents", cid)
    return public(cid, Stored(version, state, changed=False))


async def read_fhir_consents(deps: Deps, cid: str) -> list[dict[str, Any]]:
    """The patient's consents as FHIR R4 ``Consent`` resources, standing first."""
    view = await read_consent(deps, cid)
    state = ConsentState.model_validate(view)
    return fhir.consents(cid, int(view["version"]), state, deps.clock())


async def read_history(deps: Deps, cid: str) -> list[dict[str, Any]]:
    await require_patient(deps, cid)
    return [
        {"version": e["version"], "type": e["type"], "time": e["time"], "state": e["state"]}
        for e in await deps.repo.history("consents", cid)
    ]


async def revoke_all_hospitals(deps: Deps, cid: str) -> dict[str, Any]:
    return await update_consent(
        deps, cid, ConsentRevoked, domain.revoke_all_hospitals, widens=False
    )
