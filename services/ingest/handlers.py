"""Ingest use cases: consent-gate, store, announce, release what was held.

Uploads come in batches (every record one poll returned; one when the topic is
quiet). ``subscribers.on_uploads`` reads each: signature (cheap, refuses forgeries
before any parsing), then the Bundle structure. ``ingest`` takes the readable ones:
model validation in a worker process (``validation``), *while* the senders'
hospital views and the patients' consent views are read (once per batch) ->
provider check -> CID rules -> consent gate; then one bulk write for the whole
batch and the ``records.received`` / ``records.stored`` events of every upload,
published together. Every refusal is a ``Rejected`` outcome (``errors.py``: its
code is the reason), so the Guard sets that upload aside on the dead-letter topic,
byte for byte, and the rest of the batch goes on.

The HTTP gateway's use case is in ``gateway.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from healthlink_adapter.contract import REQUEST_ID_HEADER, SIGNATURE_HEADER

from services.ingest.bundle import parse_bundle
from services.ingest.documents import EVENT_SOURCE, Batch, stored_events, to_documents
from services.ingest.domain import (
    Consents,
    Senders,
    Upload,
    check_signature,
    may_send,
    newest_per_id,
    require_provider,
    verify,
    vet,
)
from services.ingest.errors import NoConsent, NoSigningKey, UnknownKey
from services.ingest.receipts import SET_ASIDE, STORED, Receipt
from services.ingest.receiptstore import Receipts
from services.ingest.repository import HeldUploads, Records, Views
from services.ingest.subscriptionstore import MemorySubscriptions, Subscriptions
from services.ingest.validation import InThread, Validator
from shared.broker import RawPublisher
from shared.consumer import Outcomes
from shared.coverage import HospitalState
from shared.database import Document
from shared.deadletter import SourceMessage
from shared.errors import Rejected
from shared.events import Envelope, RecordsReceived, RecordsStored
from shared.logging import CORRELATION_HEADER, get_correlation_id, get_logger

log = get_logger(__name__)
SOURCE = EVENT_SOURCE


@dataclass
class Deps:
    """Ingest's ports (``repository.py``, ``receiptstore.py``; the hospital views hold
    the public keys uploads are checked with), where events go, the size limit, what
    "now" is, and where bundles are validated."""

    records: Records
    held: HeldUploads
    receipts: Receipts
    view: Views
    publisher: RawPublisher
    max_bytes: int
    clock: Callable[[], datetime]
    validator: Validator = field(default_factory=InThread)
    # hospitals' data-request subscriptions (subscriptionstore.py)
    subscriptions: Subscriptions = field(default_factory=MemorySubscriptions)


async def look_up(deps: Deps, uploads: list[Upload]) -> tuple[Senders, Consents]:
    """Senders' hospital views and patients' consent views, validating meanwhile."""
    hospitals = sorted({u.hospital for u in uploads})
    cids = sorted({u.loaded.cid for u in uploads if u.loaded is not None and u.loaded.cid})
    views = asyncio.ensure_future(
        asyncio.gather(
            deps.view.hospitals_of(hospitals),
            deps.view.consents_of(cids) if cids else _no_consents(),
        )
    )
    checking = [u for u in uploads if u.loaded is not None]
    try:
        results = await deps.validator.validate(
            [u.source.value for u in checking], [u.loaded for u in checking if u.loaded]
        )
    finally:
        senders, consents = await views
    for upload, outcome in zip(checking, results, strict=True):
        upload.problem = outcome
    return senders, consents


async def _no_consents() -> Consents:
    return {}


async def hold(deps: Deps, upload: Upload, cid: str) -> None:
    """Keep an upload its consent (or its sender) does not cover yet; raise if still not."""
    source = upload.source
    await deps.held.hold(upload.upload_id, cid, upload.hospital, source.value, source.headers)
    # Re-read after holding: an event that raced in either sees the hold or is seen here.
    sender = await deps.view.hospital(upload.hospital)
    require_provider(upload.hospital, sender)
    assert sender is not None
    if not upload.verified:  # its hospital became known meanwhile: check it now
        verify(upload, sender)
    if not may_send(await deps.view.consent(cid), upload.hospital, deps.clock()):
        raise NoConsent()
    upload.held = True  # covered after all: stored now, released below


async def ingest(deps: Deps, uploads: list[Upload]) -> Outcomes:
    """Store a batch of signed uploads, each once, or refuse it with its reason; one
    outcome per upload, in order.

    One round of look-ups, one validation pass, one bulk write and the
    ``records.received`` events published together, whatever the batch size.
    """
    outcomes: Outcomes = [None] * len(uploads)
    if not uploads:
        return outcomes
    senders, consents = await look_up(deps, uploads)
    now = deps.clock()
    storing: list[Upload] = []
    for place, upload in enumerate(uploads):
        try:
            upload.parsed = vet(upload, senders)
            cid = upload.parsed.patient_cid
            known = senders[upload.hospital] is not None
            if not (known and may_send(consents.get(cid), upload.hospital, now)):
                await hold(deps, upload, cid)
            storing.append(upload)
        except Exception as exc:  # Rejected: set aside; anything else: retried alone
            outcomes[place] = exc
    await store_uploads(deps, storing)
    for upload in storing:
        if upload.held:
            await deps.held.release(upload.upload_id)
    await note_set_aside(deps, uploads, outcomes)
    return outcomes


async def note_set_aside(deps: Deps, uploads: list[Upload], outcomes: Outcomes) -> None:
    """The receipts of the signed uploads refused (the Guard sets them aside with the same
    reason). Forged, unsigned or unverified ones get none (but see ``end_keyless``)."""
    now = deps.clock()
    rejected = [(u, o) for u, o in zip(uploads, outcomes, strict=True) if isinstance(o, Rejected)]
    refused = [
        Receipt(u.hospital, u.upload_id, SET_ASIDE, now, reason=o.code, detail=o.detail)
        for u, o in rejected
        if u.verified
    ]
    if refused:
        await deps.receipts.record(refused)
    await end_keyless(deps, [(u.hospital, u.upload_id, o) for u, o in rejected if not u.verified])


async def end_keyless(deps: Deps, refused: list[tuple[str, str, Rejected]]) -> None:
    """Uploads (hospital, upload id, refusal) whose key was removed after the gateway
    checked them end its receipt if still queued (``settle_queued``: none created)."""
    now = deps.clock()
    receipts = [
        Receipt(hospital, upload_id, SET_ASIDE, now, reason=o.code, detail=o.detail)
        for hospital, upload_id, o in refused
        if isinstance(o, NoSigningKey | UnknownKey)
    ]
    await deps.receipts.settle_queued(receipts)  # nothing written when empty


async def store_uploads(deps: Deps, uploads: list[Upload]) -> None:
    """One bulk write for every upload, then their ``records.received`` events."""
    if not uploads:
        return
    now = deps.clock()
    batches = []
    for upload in uploads:
        assert upload.parsed is not None
        batches.append(to_documents(upload.parsed, upload.hospital, upload.upload_id, now))
    chosen = newest_per_id([doc for batch in batches for doc in batch.docs])
    written = await deps.records.upsert_many(chosen)
    landed = {id(doc) for doc in chosen if doc["_id"] in written}
    await asyncio.gather(
        *(
            announce(deps, upload, batch, sum(1 for d in batch.docs if id(d) in landed))
            for upload, batch in zip(uploads, batches, strict=True)
        )
    )
    await deps.receipts.record(
        [
            Receipt(
                upload.hospital,
                upload.upload_id,
                STORED,
                now,
                resources=len(batch.docs),
                counts=dict(batch.counts),
                skipped=dict(batch.skipped),
            )
            for upload, batch in zip(uploads, batches, strict=True)
        ]
    )


async def announce(deps: Deps, upload: Upload, batch: Batch, written: int) -> None:
    """The upload's ``records.stored`` parts, then (once the broker holds them) its
    ``records.received`` announcement: a read that starts after the announcement finds
    the parts in the log, and query waits until its charts merged them
    (``services/query/freshness.py``). Same ids again on a redelivery."""
    assert upload.parsed is not None
    cid = upload.parsed.patient_cid
    received = RecordsReceived(
        patient=cid,
        hospital=upload.hospital,
        upload_id=upload.upload_id,
        counts=dict(batch.counts),
        skipped=dict(batch.skipped),
        resources=len(batch.docs),
        written=written,
        request_id=upload.source.headers.get(REQUEST_ID_HEADER) or None,
    )
    correlation_id = upload.source.headers.get(CORRELATION_HEADER) or get_correlation_id()
    event = received.envelope(
        source=SOURCE,
        subject=cid,
        event_id=f"records-{upload.upload_id}",
        correlation_id=correlation_id,
    )
    stored = stored_events(cid, upload.hospital, upload.upload_id, batch.docs, correlation_id)
    await asyncio.gather(*(deps.publisher.publish(RecordsStored.TOPIC, part) for part in stored))
    await deps.publisher.publish(RecordsReceived.TOPIC, event)
    log.info(
        "upload stored",
        upload_id=upload.upload_id,
        hospital=upload.hospital,
        resources=len(batch.docs),
        written=written,
    )


async def release_held(deps: Deps, cid: str) -> int:
    """Store the held uploads of ``cid`` that its consent now covers; returns how many."""
    held = await deps.held.held_for(cid)
    if not held:
        return 0
    consent = await deps.view.consent(cid)
    released = 0
    for doc in held:
        hospital = doc["hospital"]
        sender = await deps.view.hospital(hospital)
        if sender is None or not sender.is_provider:
            continue
        if not may_send(consent, hospital, deps.clock()):
            continue
        if not await still_signed(deps, doc, sender):
            continue
        source = SourceMessage(
            topic="held",
            partition=-1,
            offset=-1,
            key=cid.encode(),
            value=bytes(doc["value"]),
            headers=dict(doc["headers"]),
        )
        parsed = await asyncio.to_thread(parse_bundle, source.value, max_bytes=deps.max_bytes)
        upload = Upload(-1, source, hospital, doc["_id"], parsed=parsed)
        await store_uploads(deps, [upload])
        await deps.held.release(doc["_id"])
        released += 1
    return released


async def still_signed(deps: Deps, doc: Document, sender: HospitalState) -> bool:
    """Whether a held upload is signed with a key its hospital has now: one held before its
    hospital was known is checked here first. One that is not is let go of (it was set
    aside when it was held, so nothing is lost) and logged with its reason."""
    try:
        check_signature(sender, bytes(doc["value"]), doc["headers"].get(SIGNATURE_HEADER))
    except Rejected as exc:
        await deps.held.release(doc["_id"])
        log.warning("held upload not signed by its hospital", upload_id=doc["_id"], reason=exc.code)
        return False
    return True


async def note_consent(deps: Deps, envelope: Envelope) -> None:
    """Keep the patient's new consent; release the held uploads it covers."""
    await deps.view.on_consent_event(envelope)
    await release_held(deps, envelope.subject)


async def note_hospital(deps: Deps, envelope: Envelope) -> None:
    """Keep the hospital's new state; release uploads held until this provider was known."""
    await deps.view.on_hospital_event(envelope)
    for cid in await deps.held.held_patients(envelope.subject):
        await release_held(deps, cid)
