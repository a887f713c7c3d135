"""Ingest's Kafka subscribers: each reads its records and hands them to a use case.

An upload that cannot be read (unsigned, forged, signed with a key its hospital does
not have) or an event that cannot be read
raises ``Rejected``; the consumer sets it aside on the dead-letter topic with that
reason (``shared.consumer``).
"""

from __future__ import annotations

from functools import partial

from healthlink_adapter.contract import HOSPITAL_HEADER

from services.ingest import handlers
from services.ingest.domain import Upload, arrive, upload_id_of
from services.ingest.handlers import Deps
from shared.consumer import Outcomes, one_by_one
from shared.deadletter import SourceMessage
from shared.errors import Rejected
from shared.events import ConsentChanged, Envelope, HospitalChanged, parse


async def on_uploads(deps: Deps, sources: list[SourceMessage]) -> Outcomes:
    """``INGEST_UPLOADS``, a batch: who signed each upload (its hospital's public keys,
    read once for the batch) and its bundle's structure, then the signed ones stored
    once or refused, each alone."""
    outcomes: Outcomes = [None] * len(sources)
    uploads: list[Upload] = []
    claimed = sorted({h for s in sources if (h := s.headers.get(HOSPITAL_HEADER))})
    senders = await deps.view.hospitals_of(claimed) if claimed else {}
    refused: list[tuple[str, str, Rejected]] = []
    for index, source in enumerate(sources):
        try:
            uploads.append(arrive(deps.max_bytes, index, source, senders))
        except Rejected as exc:
            outcomes[index] = exc
            refused.append((source.headers.get(HOSPITAL_HEADER, ""), upload_id_of(source), exc))
    await handlers.end_keyless(deps, refused)
    for upload, outcome in zip(uploads, await handlers.ingest(deps, uploads), strict=True):
        outcomes[upload.index] = outcome
    return outcomes


async def on_upload(deps: Deps, source: SourceMessage) -> None:
    """One upload (a batch of one): a replayed dead letter, say."""
    await one_by_one(partial(on_uploads, deps))(source)


async def on_consent_event(deps: Deps, envelope: Envelope) -> None:
    """``CONSENT_EVENTS``: consent changes kept (held uploads released); patients'
    registrations and verification results are not consent state."""
    if isinstance(parse(envelope), ConsentChanged):
        await handlers.note_consent(deps, envelope)


async def on_hospital_event(deps: Deps, envelope: Envelope) -> None:
    """``HOSPITAL_EVENTS``: the hospital's new state kept (held uploads released)."""
    HospitalChanged.of(envelope)
    await handlers.note_hospital(deps, envelope)
