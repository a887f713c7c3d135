"""Hospital use cases: join, change, and pulling data for "all hospitals" patients.

A hospital joins as a consumer or a provider; a consumer may become a provider
later (never back). When a provider appears (``hospital.registered`` as provider,
or ``hospital.became_provider``), every patient whose standing consent covers
"all hospitals" is now covered by it: ``on_hospital_event`` (the consent
service's own subscriber to ``HOSPITAL_EVENTS``) asks it for their data.
"""

from __future__ import annotations

from typing import Any

from services.consent.consents import data_request
from services.consent.domain import ConsentMode, HospitalState, Role, check_hcode
from services.consent.errors import HospitalNotFound, HospitalRegistered, RoleDowngrade
from services.consent.handlers import Change, Deps, change
from shared import topics
from shared.errors import InvalidInput, Rejected
from shared.events import Envelope
from shared.logging import get_logger

log = get_logger(__name__)
PROVIDER_EVENTS = frozenset({"hospital.registered", "hospital.became_provider"})


async def register_hospital(
    deps: Deps, code: str, name: str, role: Role, consent_mode: ConsentMode
) -> dict[str, Any]:
    """Add a participating hospital; the same request again changes nothing."""
    check_hcode(code)
    joined = HospitalState.join(code, name, role, consent_mode, deps.clock())

    def apply(version: int, state: dict[str, Any]) -> Change | None:
        if version == 0:
            return Change(joined.to_doc())
        current = HospitalState.from_doc(state)
        if (current.name, current.role, current.consent_mode) == (name, role, consent_mode):
            return None
        raise HospitalRegistered(
            f"hospital {code} is already registered; change it with PATCH /hospitals/{code}"
        )

    stored = await change(deps, "hospitals", code, "hospital.registered", apply)
    return {"version": stored.version, **stored.state}


async def update_hospital(
    deps: Deps,
    code: str,
    name: str | None = None,
    role: Role | None = None,
    consent_mode: ConsentMode | None = None,
) -> dict[str, Any]:
    """Rename, change the consent mode, or turn a consumer into a provider."""
    check_hcode(code)
    now = deps.clock()

    def apply(version: int, state: dict[str, Any]) -> Change | None:
        if version == 0:
            raise HospitalNotFound(f"hospital {code} is not a participating hospital")
        current = HospitalState.from_doc(state)
        if role == "consumer" and current.role == "provider":
            raise RoleDowngrade("a provider hospital cannot go back to consumer")
        after = current.become_provider(now) if role == "provider" else current
        after = HospitalState(
            code=code,
            name=name or after.name,
            role=after.role,
            consent_mode=consent_mode or after.consent_mode,
            joined_at=after.joined_at,
            provider_since=after.provider_since,
            active=after.active,
        )
        if after == current:
            return None
        promoted = after.role != current.role
        return Change(after.to_doc(), name="hospital.became_provider" if promoted else None)

    stored = await change(deps, "hospitals", code, "hospital.updated", apply)
    return {"version": stored.version, **stored.state}


async def read_hospital(deps: Deps, code: str) -> dict[str, Any]:
    check_hcode(code)
    version, state = await deps.repo.get("hospitals", code)
    if version == 0:
        raise HospitalNotFound(f"hospital {code} is not a participating hospital")
    return {"version": version, **state}


async def on_hospital_event(deps: Deps, envelope: Envelope) -> None:
    """The consent service's subscriber to ``HOSPITAL_EVENTS``."""
    await pull_for_new_provider(deps, envelope)


async def pull_for_new_provider(deps: Deps, envelope: Envelope) -> int:
    """A new provider: ask it for the data of every "all hospitals" patient."""
    if envelope.name not in PROVIDER_EVENTS:
        return 0
    state, version = envelope.data.get("state"), envelope.data.get("version")
    if not isinstance(state, dict) or not isinstance(version, int):
        raise Rejected("hospital event without version and state", code="malformed-event")
    if state.get("role") != "provider" or not state.get("active", True):
        return 0
    code = envelope.subject
    try:
        check_hcode(code)
    except InvalidInput as exc:
        raise Rejected(exc.detail, code="malformed-event") from exc
    now = deps.clock()
    cids = await deps.repo.all_hospitals_patients()
    for cid in cids:
        request = data_request(cid, code, envelope.name, f"datareq-{cid}-{code}-h{version}", now)
        await deps.publisher.publish(topics.DATA_REQUESTS, request)
    if cids:
        log.info("data requested for all-hospitals patients", hospital=code, patients=len(cids))
    return len(cids)
