"""Ingest use cases: verify, validate, consent-gate, store, announce.

One upload goes: signature (cheap, refuses forgeries before any parsing) ->
Bundle structure -> model validation in a worker thread, *while* the sender's
hospital view and the patient's consent view are read -> provider check -> CID
rules -> consent gate -> one bulk write -> one ``records.received`` event.
Every refusal raises ``Rejected`` (a ``BundleRejected`` carries its reason), so
the Guard sets the upload aside on the dead-letter topic, byte for byte.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from services.ingest.bundle import (
    BundleRejected,
    LoadedBundle,
    ParsedBundle,
    finish,
    load_bundle,
    parse_bundle,
    validate_resources,
)
from services.ingest.documents import to_documents
from services.ingest.repository import Store
from shared import tokens, topics
from shared.deadletter import SourceMessage
from shared.errors import Rejected
from shared.events import Envelope, make_event
from shared.logging import get_correlation_id, get_logger
from shared.projections import ConsentView, HospitalView

log = get_logger(__name__)
SOURCE = "healthlink/ingest"
HOSPITAL_HEADER = "hl-hospital"
SIGNATURE_HEADER = "hl-signature"
UPLOAD_ID_HEADER = "hl-upload-id"
REQUEST_ID_HEADER = "hl-request-id"
T = TypeVar("T")


class Views(Protocol):
    """The local consent and hospital read models (``shared.projections``)."""

    async def consent(self, cid: str) -> ConsentView | None: ...

    async def hospital(self, code: str) -> HospitalView | None: ...

    async def on_consent_event(self, event: Envelope) -> bool: ...

    async def on_hospital_event(self, event: Envelope) -> bool: ...


class EventPublisher(Protocol):
    async def publish(self, topic: str, event: Envelope) -> None: ...

    async def publish_raw(
        self, topic: str, value: bytes, *, key: bytes | None, headers: dict[str, str]
    ) -> None: ...


@dataclass
class Deps:
    store: Store
    view: Views
    publisher: EventPublisher
    secret: str
    max_bytes: int
    clock: Callable[[], datetime]


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
    if not tokens.check_body(key, source.value, signature):
        raise Rejected("upload signature invalid", code="bad-signature")
    return hospital


def require_provider(hospital: str, view: HospitalView | None) -> None:
    if view is None or not view.is_provider:
        raise Rejected(f"hospital {hospital} is not a data provider", code="not-a-provider")


def may_send(consent: ConsentView | None, hospital: str, now: datetime) -> bool:
    """The ingest gate: standing consent, or a live per-visit consent listing ``hospital``."""
    return consent is not None and consent.may_send(hospital, now)


async def _settled(task: Awaitable[T]) -> T | BaseException:
    try:
        return await task
    except Exception as exc:
        return exc


async def checked_upload(
    deps: Deps, source: SourceMessage, hospital: str
) -> tuple[ParsedBundle, ConsentView | None]:
    """Provider check, validation and the consent read, the look-ups beside the CPU work."""
    sender = asyncio.ensure_future(deps.view.hospital(hospital))
    consent: asyncio.Future[ConsentView | None] | None = None
    try:
        loaded: LoadedBundle | BaseException = load_bundle(source.value, max_bytes=deps.max_bytes)
    except BundleRejected as exc:
        loaded = exc
    outcome: BaseException | None = None
    if isinstance(loaded, LoadedBundle):
        if loaded.cid is not None:
            consent = asyncio.ensure_future(deps.view.consent(loaded.cid))
        outcome = await _settled(asyncio.to_thread(validate_resources, loaded))
    view = await sender
    consent_view = await consent if consent is not None else None
    if view is not None:  # unknown yet: its hospital event may still be on its way (held below)
        require_provider(hospital, view)
    if isinstance(loaded, BaseException):
        raise loaded
    if outcome is not None:
        raise outcome
    return finish(loaded), consent_view


async def on_upload(deps: Deps, source: SourceMessage) -> None:
    """Consume one upload: stored once, or set aside with its reason."""
    hospital = signed_by(deps, source)
    parsed, consent = await checked_upload(deps, source, hospital)
    cid = parsed.patient_cid
    upload_id = upload_id_of(source)
    if not may_send(consent, hospital, deps.clock()) or await deps.view.hospital(hospital) is None:
        await deps.store.hold(upload_id, cid, hospital, source.value, source.headers)
        # Re-read after holding: an event that raced in either sees the hold or is seen here.
        require_provider(hospital, await deps.view.hospital(hospital))
        if not may_send(await deps.view.consent(cid), hospital, deps.clock()):
            raise Rejected("no consent covers this hospital for this patient", code="no-consent")
        await store_upload(deps, parsed, source, hospital, upload_id)
        await deps.store.release(upload_id)
        return
    await store_upload(deps, parsed, source, hospital, upload_id)


async def store_upload(
    deps: Deps, parsed: ParsedBundle, source: SourceMessage, hospital: str, upload_id: str
) -> None:
    """One bulk write, then the ``records.received`` event (same id on a redelivery)."""
    batch = to_documents(parsed, hospital, upload_id, deps.clock())
    written = await deps.store.upsert_many(batch.docs)
    data: dict[str, object] = {
        "patient": parsed.patient_cid,
        "hospital": hospital,
        "upload_id": upload_id,
        "counts": dict(batch.counts),
        "skipped": dict(batch.skipped),
        "resources": len(batch.docs),
        "written": written,
    }
    request_id = source.headers.get(REQUEST_ID_HEADER)
    if request_id:
        data["request_id"] = request_id
    event = make_event(
        "records.received",
        source=SOURCE,
        subject=parsed.patient_cid,
        event_id=f"records-{upload_id}",
        correlation_id=get_correlation_id(),
        data=data,
    )
    await deps.publisher.publish(topics.INGEST_RECORDS, event)
    log.info(
        "upload stored",
        upload_id=upload_id,
        hospital=hospital,
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
        await store_upload(deps, parsed, source, hospital, doc["_id"])
        await deps.store.release(doc["_id"])
        released += 1
    return released


async def on_consent_event(deps: Deps, event: Envelope) -> None:
    """Keep the local consent view; release held uploads the new consent covers."""
    if "state" not in event.data:
        return  # patient.registered, verification results, ...: not consent state
    await deps.view.on_consent_event(event)
    await release_held(deps, event.subject)


async def on_hospital_event(deps: Deps, event: Envelope) -> None:
    """Keep the local hospital view; release uploads held until this provider was known."""
    if "state" not in event.data:
        return
    await deps.view.on_hospital_event(event)
    for cid in await deps.store.held_patients(event.subject):
        await release_held(deps, cid)
