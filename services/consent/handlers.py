"""Consent use cases: each validates, stores a new version with its event, publishes it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.consent.domain import ConsentState, check_adult, check_cid, check_hcode
from services.consent.errors import (
    AlreadyRegistered,
    ConcurrentChange,
    HospitalNotFound,
    PatientNotFound,
)
from services.consent.repository import MongoConsentRepository
from shared import topics
from shared.broker import Publisher
from shared.events import Envelope, make_event
from shared.logging import get_correlation_id, get_logger

log = get_logger(__name__)
SOURCE = "healthlink/consent"
MAX_TRIES = 5
TOPIC_OF = {"consents": topics.CONSENT_EVENTS, "hospitals": topics.HOSPITAL_EVENTS}


@dataclass
class Deps:
    repo: MongoConsentRepository
    publisher: Publisher
    clock: Callable[[], datetime]


async def register_patient(deps: Deps, cid: str, birth_date: date) -> dict[str, Any]:
    check_cid(cid)
    now = deps.clock()
    check_adult(birth_date, now)
    if not await deps.repo.add_patient(cid, birth_date.isoformat(), now):
        raise AlreadyRegistered("this CID is already registered")
    event = make_event(
        "patient.registered",
        source=SOURCE,
        subject=cid,
        data={"cid": cid},
        correlation_id=get_correlation_id(),
    )
    await deps.publisher.publish(topics.CONSENT_EVENTS, event)
    return {"cid": cid, "registered_at": now.isoformat()}


async def require_patient(deps: Deps, cid: str) -> None:
    check_cid(cid)
    if await deps.repo.get_patient(cid) is None:
        raise PatientNotFound("no patient registered with this CID")


async def require_hospitals(deps: Deps, codes: set[str]) -> None:
    for code in sorted(codes):
        check_hcode(code)
        version, _ = await deps.repo.get("hospitals", code)
        if version == 0:
            raise HospitalNotFound(f"hospital {code} is not a participating hospital")


async def change(
    deps: Deps, kind: str, key: str, name: str, apply: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Store the next version of ``key``'s state with its event, then publish it."""
    for _ in range(MAX_TRIES):
        version, state = await deps.repo.get(kind, key)
        new_state = apply(state)
        event = make_event(
            name,
            source=SOURCE,
            subject=key,
            data={"version": version + 1, "state": new_state},
            correlation_id=get_correlation_id(),
        )
        if await deps.repo.save(kind, key, version, new_state, event):
            await publish_stored(deps, kind, key, event)
            return {"version": version + 1, **new_state}
    raise ConcurrentChange("too many concurrent changes; try again")


async def publish_stored(deps: Deps, kind: str, key: str, event: Envelope) -> None:
    await deps.publisher.publish(TOPIC_OF[kind], event)
    await deps.repo.published(kind, key, event.id)


async def relay(deps: Deps) -> int:
    """Publish whatever a crash left in an outbox; returns how many."""
    sent = 0
    for kind in TOPIC_OF:
        for key, event in await deps.repo.pending(kind):
            await publish_stored(deps, kind, key, event)
            sent += 1
    if sent:
        log.info("outbox relayed", events=sent)
    return sent


async def register_hospital(
    deps: Deps, code: str, name: str, role: str, consent_mode: str
) -> dict[str, Any]:
    check_hcode(code)

    def apply(state: dict[str, Any]) -> dict[str, Any]:
        joined = state.get("joined_at") or deps.clock().isoformat()
        return {
            "code": code,
            "name": name,
            "role": role,
            "consent_mode": consent_mode,
            "active": True,
            "joined_at": joined,
        }

    return await change(deps, "hospitals", code, "hospital.registered", apply)


async def update_consent(
    deps: Deps, cid: str, name: str, edit: Callable[[ConsentState], ConsentState]
) -> dict[str, Any]:
    await require_patient(deps, cid)

    def apply(state: dict[str, Any]) -> dict[str, Any]:
        return {**state, **edit(ConsentState.from_doc(state)).to_doc()}

    return await change(deps, "consents", cid, name, apply)


async def grant_hospitals(deps: Deps, cid: str, codes: set[str]) -> dict[str, Any]:
    await require_hospitals(deps, codes)
    return await update_consent(deps, cid, "consent.granted", lambda s: s.grant(codes))


async def revoke_hospitals(deps: Deps, cid: str, codes: set[str]) -> dict[str, Any]:
    for code in codes:
        check_hcode(code)
    return await update_consent(deps, cid, "consent.revoked", lambda s: s.revoke(codes))


async def grant_all(deps: Deps, cid: str) -> dict[str, Any]:
    return await update_consent(deps, cid, "consent.granted", lambda s: s.grant_all())


async def revoke_all(deps: Deps, cid: str) -> dict[str, Any]:
    return await update_consent(deps, cid, "consent.revoked", lambda s: s.revoke_all())


async def set_sensitive(deps: Deps, cid: str, allowed: bool) -> dict[str, Any]:
    name = "consent.granted" if allowed else "consent.revoked"
    return await update_consent(deps, cid, name, lambda s: s.with_sensitive(allowed))


async def read_consent(deps: Deps, cid: str) -> dict[str, Any]:
    await require_patient(deps, cid)
    version, state = await deps.repo.get("consents", cid)
    return {"cid": cid, "version": version, **ConsentState.from_doc(state).to_doc()}
