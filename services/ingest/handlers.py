"""Ingest use cases: verify, validate, consent-gate, store, announce."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.ingest.bundle import parse_bundle
from services.ingest.documents import to_documents
from services.ingest.repository import RecordStore
from shared import tokens, topics
from shared.broker import Publisher
from shared.deadletter import SourceMessage
from shared.errors import Rejected
from shared.events import Envelope, make_event
from shared.logging import get_correlation_id, get_logger
from shared.projections import ConsentProjection

log = get_logger(__name__)
SOURCE = "healthlink/ingest"
HOSPITAL_HEADER = "hl-hospital"
SIGNATURE_HEADER = "hl-signature"
UPLOAD_ID_HEADER = "hl-upload-id"


@dataclass
class Deps:
    store: RecordStore
    view: ConsentProjection
    publisher: Publisher
    secret: str
    max_bytes: int
    clock: Callable[[], datetime]


def upload_id_of(source: SourceMessage) -> str:
    return source.headers.get(UPLOAD_ID_HEADER) or hashlib.sha256(source.value).hexdigest()[:32]


async def check_sender(deps: Deps, source: SourceMessage) -> str:
    """The verified provider hospital that sent this upload, or ``Rejected``."""
    hospital = source.headers.get(HOSPITAL_HEADER)
    if not hospital:
        raise Rejected("upload has no hospital header", code="unsigned")
    key = tokens.derive(deps.secret, "upload", hospital)
    if not tokens.check_body(key, source.value, source.headers.get(SIGNATURE_HEADER)):
        raise Rejected("upload signature missing or invalid", code="bad-signature")
    view = await deps.view.hospital(hospital)
    if view is None or not view.is_provider:
        raise Rejected(f"hospital {hospital} is not a data provider", code="not-a-provider")
    return hospital


async def consented(deps: Deps, cid: str, hospital: str) -> bool:
    consent = await deps.view.consent(cid)
    return consent is not None and consent.covers_source(hospital)


async def on_upload(deps: Deps, source: SourceMessage) -> None:
    """Consume one upload: stored once, or set aside with its reason."""
    hospital = await check_sender(deps, source)
    parsed = parse_bundle(source.value, max_bytes=deps.max_bytes)
    upload_id = upload_id_of(source)
    if not await consented(deps, parsed.patient_cid, hospital):
        await deps.store.hold(upload_id, parsed.patient_cid, hospital, source.value, source.headers)
        if not await consented(deps, parsed.patient_cid, hospital):  # consent raced in?
            raise Rejected("no consent covers this hospital for this patient", code="no-consent")
    await store_upload(deps, source, hospital, upload_id)
    await deps.store.release(upload_id)


async def store_upload(deps: Deps, source: SourceMessage, hospital: str, upload_id: str) -> None:
    parsed = parse_bundle(source.value, max_bytes=deps.max_bytes)
    batch = to_documents(parsed, hospital, upload_id, deps.clock())
    written = await deps.store.upsert_many(batch.docs)
    event = make_event(
        "records.received",
        source=SOURCE,
        subject=parsed.patient_cid,
        event_id=f"records-{upload_id}",
        correlation_id=get_correlation_id(),
        data={
            "patient": parsed.patient_cid,
            "hospital": hospital,
            "upload_id": upload_id,
            "counts": dict(batch.counts),
            "skipped": dict(batch.skipped),
            "resources": len(batch.docs),
            "written": written,
        },
    )
    await deps.publisher.publish(topics.INGEST_RECORDS, event)
    log.info(
        "upload stored",
        upload_id=upload_id,
        hospital=hospital,
        resources=len(batch.docs),
        written=written,
    )


async def on_consent_event(deps: Deps, event: Envelope) -> None:
    """Keep the local consent view; release held uploads the new consent covers."""
    if not event.name.startswith("consent."):
        return
    await deps.view.on_consent_event(event)
    for held in await deps.store.held_for(event.subject):
        if await consented(deps, event.subject, held["hospital"]):
            source = SourceMessage(
                topic="held",
                partition=-1,
                offset=-1,
                key=None,
                value=bytes(held["value"]),
                headers=dict(held["headers"]),
            )
            await store_upload(deps, source, held["hospital"], held["_id"])
            await deps.store.release(held["_id"])


async def on_hospital_event(deps: Deps, event: Envelope) -> None:
    await deps.view.on_hospital_event(event)
