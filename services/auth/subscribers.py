"""The auth service's Kafka subscribers: each hands an event to a use case.

Hospital events keep this service's copy of every participating hospital (a
physician signs in only for an active one); the consent topic's patient events say
which CIDs are registered (a patient, or a physician's launch, needs one).
"""

from __future__ import annotations

from services.auth.handlers import Deps
from shared.events import Envelope, PatientRegistered, parse


async def on_hospital_event(deps: Deps, envelope: Envelope) -> None:
    """``HOSPITAL_EVENTS``: the hospital's latest state (versioned, idempotent)."""
    await deps.view.on_hospital_event(envelope)


async def on_consent_event(deps: Deps, envelope: Envelope) -> None:
    """``CONSENT_EVENTS``: a registration; the other events of the topic are not ours."""
    event = parse(envelope)
    if isinstance(event, PatientRegistered):
        await deps.patients.registered(event.cid)
