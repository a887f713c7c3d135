"""The consent service's Kafka subscribers: each hands an event to a use case."""

from __future__ import annotations

from services.consent import registry
from services.consent.handlers import Deps
from shared.events import Envelope


async def on_hospital_event(deps: Deps, envelope: Envelope) -> None:
    """``HOSPITAL_EVENTS``: a new provider is asked for its patients' data."""
    await registry.pull_for_new_provider(deps, envelope)
