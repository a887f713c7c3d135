"""Ingest use cases: verify, validate, consent-gate, store, announce.

Uploads come in batches (every record one poll returned; one when the topic is
quiet). Each goes: signature (cheap, refuses forgeries before any parsing) ->
Bundle structure -> model validation in a worker process (``validation``),
*while* the senders' hospital views and the patients' consent views are read
(once per batch) -> provider check -> CID rules -> consent gate; then one bulk write for the whole
batch and one ``records.received`` event per upload, published together.
Every refusal is a ``Rejected`` outcome (a ``BundleRejected`` carries its
reason), so the Guard sets that upload aside on the dead-letter topic, byte for
byte, and the rest of the batch goes on.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Protocol

from healthlink_adapter.contract import (
    HOSPITAL_HEADER,
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    UPLOAD_ID_HEADER,
)
from healthlink_adapter.signing import check_body

from services.ingest.bundle import (
    BundleRejected,
    LoadedBundle,
    ParsedBundle,
    finish,
    load_bundle,
    parse_bundle,
)
from services.ingest.documents import EVENT_SOURCE, Batch, stored_events, to_documents
from services.ingest.repository import Store, newest_per_id
from services.ingest.validation import InThread, Validator
from shared import tokens
from shared.broker import RawPublisher
from shared.consumer import Outcomes, one_by_one
from shared.coverage import HospitalState
from shared.deadletter import SourceMessage
from shared.errors import Rejected
from shared.events import (
    ConsentChanged,
    Envelope,
    HospitalChanged,
    RecordsReceived,
    RecordsStored,
    parse,
)
from shared.logging import CORRELATION_HEADER, get_correlation_id, get_logger
from shared.projections import Consent

log = get_logger(__name__)
SOURCE = EVENT_SOURCE


class Views(Protocol):
    """The local consent and hospital read models (``shared.projections``)."""

    async def consent(self, cid: str) -> Consent | None: ...

    async def hospital(self, code: str) -> HospitalState | None: ...

    async def consents_of(self, cids: list[str]) -> dict[str, Consent | None]: ...

    async def hospitals_of(self, codes: list[str]) -> dict[str, HospitalState | None]: ...

    async def on_consent_event(self, event: Envelope) -> bool: ...

    async def on_hospital_event(self, event: Envelope) -> bool: ...


@dataclass
class Deps:
    store: Store
    view: Views
    publisher: RawPublisher
    secret: str
    max_bytes: int
    clock: Callable[[], datetime]
    validator: Validator = field(default_factory=InThread)


Senders = dict[str, HospitalState | None]
Consents = dict[str, Consent | None]


def upload_id_of(source: SourceMessage) -> str:
    return source.headers.get(UPLOAD_ID_HEADER) or hashlib.sha256(source.value).hexdigest()[:32]


def signed_by(deps: Deps, source: SourceMessage) -> str:
    """The hospital whose upload key signed this body, or ``Rejected``."""
    hospital = source.headers.get(HOSPITAL_HEADER)
    if not hospital:
        raise Rejected("upload has no hospital header", code="unsigned")
    signature = source.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise Rejected("upload has no signature", code="unsigned")
    key = tokens.derive(deps.secret, "upload", hospital)
    if not check_body(key, source.value, signature):
        raise Rejected("upload signature invalid", code="bad-signature")
    return hospital


def require_provider(hospital: str, view: HospitalState | None) -> None:
    if view is None or not view.is_provider:
        raise Rejected(f"hospital {hospital} is not a data provider", code="not-a-provider")


def may_send(consent: Consent | None, hospital: str, now: datetime) -> bool:
    """The ingest gate (``ConsentState.may_send``): nothing without a consent."""
    return consent is not None and consent.state.may_send(hospital, now)


@dataclass
class Upload:
    """One upload on its way through a batch."""

    index: int
    source: SourceMessage
    hospital: str
    upload_id: str
    loaded: LoadedBundle | None = None
    problem: BaseException | None = None  # reported after the provider check
    parsed: ParsedBundle | None = None
    held: bool = False


def arrive(deps: Deps, index: int, source: SourceMessage) -> Upload:
    """Signature first (refuses forgeries before any parsing), then the cheap load."""
    upload = Upload(index, source, signed_by(deps, source), upload_id_of(source))
    try:
        upload.loaded = load_bundle(source.value, max_bytes=deps.max_bytes)
    except BundleRejected as exc:
        upload.problem = exc
    return upload


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


def vet(upload: Upload, senders: Senders) -> ParsedBundle:
    """Provider check (when the sender is known), then the bundle's problems, then CID rules."""
    view = senders[upload.hospital]
    if view is not None:  # unknown yet: its hospital event may still be on its way (held)
        require_provider(upload.hospital, view)
    if upload.problem is not None:
        raise upload.problem
    assert upload.loaded is not None
    return finish(upload.loaded)


async def hold(deps: Deps, upload: Upload, cid: str) -> None:
    """Keep an upload its consent (or its sender) does not cover yet; raise if still not."""
    source = upload.source
    await deps.store.hold(upload.upload_id, cid, upload.hospital, source.value, source.headers)
    # Re-read after holding: an event that raced in either sees the hold or is seen here.
    require_provider(upload.hospital, await deps.view.hospital(upload.hospital))
    if not may_send(await deps.view.consent(cid), upload.hospital, deps.clock()):
        raise Rejected("no consent covers this hospital for this patient", code="no-consent")
    upload.held = True  # covered after all: stored now, released below


async def on_uploads(deps: Deps, sources: list[SourceMessage]) -> Outcomes:
    """Consume a batch of uploads: each stored once, or set aside with its reason.

    One round of look-ups, one validation pass, one bulk write and the
    ``records.received`` events published together, whatever the batch size.
    """
    outcomes: Outcomes = [None] * len(sources)
    uploads: list[Upload] = []
    for index, source in enumerate(sources):
        try:
            uploads.append(arrive(deps, index, source))
        except Rejected as exc:
            outcomes[index] = exc
    senders, consents = await look_up(deps, uploads) if uploads else ({}, {})
    now = deps.clock()
    storing: list[Upload] = []
    for upload in uploads:
        try:
            upload.parsed = vet(upload, senders)
            cid = upload.parsed.patient_cid
            known = senders[upload.hospital] is not None
            if not (known and may_send(consents.get(cid), upload.hospital, now)):
                await hold(deps, upload, cid)
            storing.append(upload)
        except Exception as exc:  # Rejected: set aside; anything else: retried alone
            outcomes[upload.index] = exc
    await store_uploads(deps, storing)
    for upload in storing:
        if upload.held:
            await deps.store.release(upload.upload_id)
    return outcomes


async def on_upload(deps: Deps, source: SourceMessage) -> None:
    """Consume one upload (a batch of one)."""
    await one_by_one(partial(on_uploads, deps))(source)


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
    written = await deps.store.upsert_many(chosen)
    landed = {id(doc) for doc in chosen if doc["_id"] in written}
    await asyncio.gather(
        *(
            announce(deps, upload, batch, sum(1 for d in batch.docs if id(d) in landed))
            for upload, batch in zip(uploads, batches, strict=True)
        )
    )


async def announce(deps: Deps, upload: Upload, batch: Batch, written: int) -> None:
    """The upload's ``records.received`` and ``records.stored`` events (same ids again
    on a redelivery)."""
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
    await asyncio.gather(
        deps.publisher.publish(RecordsReceived.TOPIC, event),
        *(deps.publisher.publish(RecordsStored.TOPIC, part) for part in stored),
    )
    log.info(
        "upload stored",
        upload_id=upload.upload_id,
        hospital=upload.hospital,
        resources=len(batch.docs),
        written=written,
    )


async def release_held(deps: Deps, cid: str) -> int:
    """Store the held uploads of ``cid`` that its consent now covers; returns how many."""
    held = await deps.store.held_for(cid)
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
        await deps.store.release(doc["_id"])
        released += 1
    return released


async def on_consent_event(deps: Deps, event: Envelope) -> None:
    """Keep the local consent view; release held uploads the new consent covers."""
    if not isinstance(parse(event), ConsentChanged):
        return  # patient.registered, verification results, ...: not consent state
    await deps.view.on_consent_event(event)
    await release_held(deps, event.subject)


async def on_hospital_event(deps: Deps, event: Envelope) -> None:
    """Keep the local hospital view; release uploads held until this provider was known."""
    HospitalChanged.of(event)
    await deps.view.on_hospital_event(event)
    for cid in await deps.store.held_patients(event.subject):
        await release_held(deps, cid)
