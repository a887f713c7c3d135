"""Hospital use cases: join, change, and pulling data for "all hospitals" patients.

A hospital joins as a consumer or a provider; a consumer may become a provider
later (never back). When a provider appears (``hospital.registered`` as provider,
or ``hospital.became_provider``), every patient whose standing consent covers
"all hospitals" is now covered by it: ``on_hospital_event`` (the consent
service's own subscriber to ``HOSPITAL_EVENTS``) asks it for their data.
"""

from __future__ import annotations

from typing import Any

from services.consent import domain
from services.consent.consents import data_request
from services.consent.domain import ConsentMode, ConsentState, HospitalState, Role, check_hcode
from services.consent.errors import HospitalAlreadyRegistered, HospitalNotFound, RoleDowngrade
from services.consent.handlers import Change, Deps, Record, change
from shared.events import (
    NEW_PROVIDER,
    Envelope,
    HospitalBecameProvider,
    HospitalChanged,
    HospitalRegistered,
    HospitalUpdated,
    topic_of,
)
from shared.hospital_auth import digest, new_admin_key
from shared.logging import get_logger

log = get_logger(__name__)


async def register_hospital(
    deps: Deps,
    code: str,
    name: str,
    role: Role,
    consent_mode: ConsentMode,
    record: Record | None = None,
) -> dict[str, Any]:
    """Add a participating hospital with a new admin key, returned this once
    (``admin_key``; only its SHA-256 is kept); the same request again changes nothing
    and returns no key (rotate it: ``hospital_keys.rotate_admin_key``)."""
    check_hcode(code)
    admin_key = new_admin_key()
    joined = domain.join(code, name, role, consent_mode, deps.clock())
    joined = joined.model_copy(update={"admin_key_sha256": digest(admin_key)})

    def apply(version: int, state: dict[str, Any]) -> Change | None:
        if version == 0:
            return Change(joined)
        current = HospitalState.model_validate(state)
        if (current.name, current.role, current.consent_mode) == (name, role, consent_mode):
            return None
        raise HospitalAlreadyRegistered(
            f"hospital {code} is already registered; change it with PATCH /hospitals/{code}"
        )

    stored = await change(deps, "hospitals", code, HospitalRegistered, apply, record=record)
    shown = shown_state(stored.version, stored.state)
    return {**shown, "admin_key": admin_key} if stored.changed else shown


async def update_hospital(
    deps: Deps,
    code: str,
    name: str | None = None,
    role: Role | None = None,
    consent_mode: ConsentMode | None = None,
    active: bool | None = None,
    record: Record | None = None,
) -> dict[str, Any]:
    """Rename, change the consent mode, turn a consumer into a provider, or suspend
    (``active=False``) and reinstate a hospital: a suspended hospital's physicians read
    nothing and its uploads are set aside, on the next request (the services'
    projections of ``hospital.updated``)."""
    check_hcode(code)
    now = deps.clock()

    def apply(version: int, state: dict[str, Any]) -> Change | None:
        if version == 0:
            raise HospitalNotFound(f"hospital {code} is not a participating hospital")
        current = HospitalState.model_validate(state)
        if role == "consumer" and current.role == "provider":
            raise RoleDowngrade("a provider hospital cannot go back to consumer")
        after = domain.become_provider(current, now) if role == "provider" else current
        after = after.model_copy(
            update={
                "name": name or after.name,
                "consent_mode": consent_mode or after.consent_mode,
                "active": after.active if active is None else active,
            }
        )
        if after == current:
            return None
        promoted = after.role != current.role
        return Change(after, event=HospitalBecameProvider if promoted else None)

    stored = await change(deps, "hospitals", code, HospitalUpdated, apply, record=record)
    return shown_state(stored.version, stored.state)


async def read_hospital(deps: Deps, code: str) -> dict[str, Any]:
    check_hcode(code)
    version, state = await deps.repo.get("hospitals", code)
    if version == 0:
        raise HospitalNotFound(f"hospital {code} is not a participating hospital")
    return shown_state(version, state)


async def list_hospitals(deps: Deps) -> list[dict[str, Any]]:
    """Every participating hospital's state, by code."""
    docs = await deps.repo.list_states("hospitals")
    return [shown_state(None, doc["state"]) for doc in docs]


def shown_state(version: int | None, state: dict[str, Any]) -> dict[str, Any]:
    """A hospital's state as the API shows it: without its admin key's hash (the hash
    travels in hospital events to the services that check the key, nowhere else)."""
    shown = {k: v for k, v in state.items() if k != "admin_key_sha256"}
    return shown if version is None else {"version": version, **shown}


async def pull_for_new_provider(deps: Deps, envelope: Envelope) -> int:
    """A new provider: ask it for the data of every patient whose consent lets it send
    (an "all hospitals" consent, one that lists it, or a live per-visit consent)."""
    event = HospitalChanged.of(envelope)
    if not isinstance(event, NEW_PROVIDER) or not event.state.is_provider:
        return 0
    code, version = event.state.code, event.version
    now = deps.clock()
    candidates = await deps.repo.consents_that_may_name(code)
    cids = [
        cid for cid, state in candidates if ConsentState.model_validate(state).may_send(code, now)
    ]
    for cid in cids:
        request = data_request(cid, code, event.NAME, f"datareq-{cid}-{code}-h{version}", now)
        await deps.publisher.publish(topic_of(request), request)  # the hospital's own topic
    if cids:
        log.info("data requested from a new provider", hospital=code, patients=len(cids))
    return len(cids)
