"""The query service's Kafka subscribers: each reads its events and hands them to a use case.

- ``CONSENT_EVENTS`` and ``HOSPITAL_EVENTS`` feed the consent projection the rules
  read (``shared.projections``; it skips other events on those topics).
- ``INGEST_STORED`` (a batch): ``records.stored`` events merged into charts, by the
  projector process or inline (``projector.py``). It takes the chart store alone,
  since the projector process has nothing else.
"""

from __future__ import annotations

from services.query.handlers import Batch, Deps, merge_stored
from services.query.repository import Charts
from shared.consumer import Outcomes, envelopes
from shared.deadletter import SourceMessage
from shared.errors import Rejected
from shared.events import Envelope, RecordsStored


async def on_consent_event(deps: Deps, envelope: Envelope) -> None:
    """Consent state changes, applied to the projection by version."""
    await deps.view.on_consent_event(envelope)


async def on_hospital_event(deps: Deps, envelope: Envelope) -> None:
    """Participating hospitals: registered, changed (role, consent mode, active)."""
    await deps.view.on_hospital_event(envelope)


async def on_records_stored(charts: Charts, sources: list[SourceMessage]) -> Outcomes:
    """A batch of ``records.stored``: one merge per (patient, source); unreadable events
    are rejected one by one (set aside), the rest merged."""
    outcomes, events = envelopes(sources)
    batch: Batch = {}
    for index, envelope in events:
        try:
            stored = RecordsStored.of(envelope)
        except Rejected as exc:
            outcomes[index] = exc
            continue
        batch.setdefault((stored.patient, stored.hospital), []).extend(stored.records)
    await merge_stored(charts, batch)
    return outcomes
