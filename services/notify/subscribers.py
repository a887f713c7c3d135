"""Notify's Kafka subscribers: each reads its event and hands it to a use case.

An event that cannot be read raises ``Rejected``; the consumer sets it aside on the
dead-letter topic with that reason (``shared.consumer``).
"""

from __future__ import annotations

from services.notify import handlers
from services.notify.handlers import Deps
from shared.consumer import Outcomes, envelopes
from shared.deadletter import SourceMessage
from shared.errors import Rejected
from shared.events import (
    ConsentChanged,
    Envelope,
    PatientRegistered,
    RecordAccessed,
    RecordsReceived,
    VerificationEvent,
    parse,
)


async def on_access_event(deps: Deps, envelope: Envelope) -> None:
    """``ACCESS_EVENTS``: a permitted read is told to the patient."""
    await handlers.tell_access(deps, envelope.id, RecordAccessed.of(envelope))


async def on_consent_event(deps: Deps, envelope: Envelope) -> None:
    """``CONSENT_EVENTS``: consent changes confirmed, verifications told, patients noted."""
    event = parse(envelope)
    if isinstance(event, VerificationEvent):
        await handlers.tell_verification(deps, envelope.id, envelope.subject, event)
    elif isinstance(event, PatientRegistered):
        await handlers.note_registered(deps, envelope.subject)
    elif isinstance(event, ConsentChanged):
        await handlers.confirm_consent(deps, envelope)


async def on_records_batch(deps: Deps, sources: list[SourceMessage]) -> Outcomes:
    """``INGEST_RECORDS``, a batch: what each hospital sent, one notice per upload; an
    unreadable record is set aside alone."""
    outcomes, readable = envelopes(sources)
    events: list[tuple[str, RecordsReceived]] = []
    for index, envelope in readable:
        try:
            events.append((envelope.id, RecordsReceived.of(envelope)))
        except Rejected as exc:
            outcomes[index] = exc
    await handlers.tell_records_received(deps, events)
    return outcomes


async def on_hospital_event(deps: Deps, envelope: Envelope) -> None:
    """``HOSPITAL_EVENTS``: keep the hospital's state."""
    await handlers.note_hospital(deps, envelope)
