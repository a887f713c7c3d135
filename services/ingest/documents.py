"""Turning validated resources into stored documents and their events (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from services.ingest.bundle import ParsedBundle
from services.ingest.categories import classify, date_of
from shared.database import Document
from shared.events import Envelope, RecordsStored, StoredRecord

EVENT_SOURCE = "healthlink/ingest"
# A records.stored event carries at most about this much resource JSON; a large
# upload is announced in several parts (each well under Kafka's default 1 MB).
STORED_PART_BYTES = 512 * 1024
STORED_FIELDS = ("type", "category", "sensitive", "date", "rank")


@dataclass
class Batch:
    """Documents to write, counts per category (sensitive counted too), skipped types."""

    docs: list[Document] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)


def rank_of(resource: dict[str, Any]) -> str:
    """Sortable version rank: lastUpdated (as sent) then versionId, zero-padded."""
    meta = resource.get("meta") or {}
    updated = str(meta.get("lastUpdated") or "")
    version = str(meta.get("versionId") or "0")
    return f"{updated}|{version.zfill(12)}"


def record_id(hospital: str, resource: dict[str, Any]) -> str:
    return f"{hospital}/{resource['resourceType']}/{resource['id']}"


def to_documents(
    parsed: ParsedBundle, hospital: str, upload_id: str, received_at: datetime
) -> Batch:
    """One document per clinical or supporting resource; others only counted."""
    batch = Batch()
    for resource in parsed.resources:
        kind = classify(resource)
        rtype = resource["resourceType"]
        if kind.kind == "skipped":
            batch.skipped[rtype] += 1
            continue
        category = kind.category.value if kind.category else None
        for counted in kind.categories:
            batch.counts[counted.value] += 1
        batch.docs.append(
            {
                "_id": record_id(hospital, resource),
                "patient": parsed.patient_cid,
                "hospital": hospital,
                "type": rtype,
                "category": category,
                "sensitive": kind.sensitive,
                "date": date_of(resource),
                "rank": rank_of(resource),
                "upload_id": upload_id,
                "received_at": received_at,
                "resource_json": orjson.dumps(resource).decode(),
            }
        )
    return batch


def resource_id_of(doc: Document) -> str:
    """The resource's own id, the last part of ``{hospital}/{type}/{id}``."""
    return str(doc["_id"]).rsplit("/", 1)[1]


def stored_record(doc: Document) -> StoredRecord:
    """A stored document as a ``records.stored`` entry."""
    return StoredRecord(
        **{name: doc[name] for name in STORED_FIELDS},
        resource_id=resource_id_of(doc),
        received_at=doc["received_at"].isoformat(),
        resource_json=doc["resource_json"],
    )


def stored_events(
    patient: str,
    hospital: str,
    upload_id: str,
    docs: list[Document],
    correlation_id: str | None = None,
) -> list[Envelope]:
    """The ``records.stored`` events of one upload: every resource it carried, in parts.

    Every resource of the upload is announced, whether or not this delivery wrote it
    (a redelivery after a crash re-announces what the first one stored); readers
    keep the highest ``rank`` per resource, so an event applied twice changes nothing.
    Event ids are ``stored-<upload id>-<part>``.
    """
    parts: list[list[StoredRecord]] = [[]]
    size = 0
    for doc in docs:
        record = stored_record(doc)
        weight = len(record.resource_json) + 256
        if parts[-1] and size + weight > STORED_PART_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(record)
        size += weight
    return [
        RecordsStored(
            patient=patient,
            hospital=hospital,
            upload_id=upload_id,
            part=number,
            parts=len(parts),
            records=records,
        ).envelope(
            source=EVENT_SOURCE,
            subject=patient,
            event_id=f"stored-{upload_id}-{number}",
            correlation_id=correlation_id,
        )
        for number, records in enumerate(parts)
    ]
