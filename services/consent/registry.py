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
from services.consent.handlers import Change, Deps, change
from shared import tokens
from shared.events import (
    NEW_PROVIDER,
    Envelope,
    HospitalBecameProvider,
    HospitalChanged,
    HospitalRegistered,
    HospitalUpdated,
    topic_of,
)
from shared.logging import get_logger

log = get_logger(__name__)


async def register_hospital(
    deps: Deps, code: str, name: str, role: Role, consent_mode: ConsentMode
) -> dict[str, Any]:
    """Add a participating hospital; the same request again changes nothing."""
    check_hcode(code)
    joined = domain.join(code, name, role, consent_mode, deps.clock())

    def apply(version: int, state: dict[str, Any]) -> Change | None:
        if version == 0:
            return Change(joined)
        current = HospitalState.model_validate(state)
        if (current.name, current.role, current.consent_mode) == (name, role, consent_mode):
            return None
        raise HospitalAlreadyRegistered(
            f"hospital {code} is already registered; change it with PATCH /hospitals/{code}"
        )

    stored = await change(deps, "hospitals", code, HospitalRegistered, apply)
    return {"version": stored.version, **stored.state}


async def update_hospital(
    deps: Deps,
    code: str,
    name: str | None = None,
    role: Role | None = None,
    consent_mode: ConsentMode | None = None,
    active: bool | None = None,
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

    stored = await change(deps, "hospitals", code, HospitalUpdated, apply)
    return {"version": stored.version, **stored.state}


async def read_hospital(deps: Deps, code: str) -> dict[str, Any]:
    check_hcode(code)
    version, state = await deps.repo.get("hospitals", code)
    if version == 0:
        raise HospitalNotFound(f"hospital {code} is not a participating hospital")
    return {"version": version, **state}


async def list_hospitals(deps: Deps) -> list[dict[str, Any]]:
    """Every participating hospital's state, by code."""
    return [doc["state"] for doc in await deps.repo.list_states("hospitals")]


def credentials(secret: str, code: str) -> dict[str, str]:
    """The hospital's admin key and upload signing key (derived: nothing stored)."""
    return {
        "admin_key": tokens.derive(secret, "admin", code),
        "upload_key": tokens.derive(secret, "upload", code),
    }


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
