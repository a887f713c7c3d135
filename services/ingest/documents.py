"""Turning validated resources into stored documents (pure)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.ingest.bundle import ParsedBundle
from services.ingest.categories import classify, date_of
from shared.database import Document


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
                "resource_id": resource["id"],
                "category": category,
                "supporting": kind.kind == "supporting",
                "sensitive": kind.sensitive,
                "date": date_of(resource),
                "rank": rank_of(resource),
                "upload_id": upload_id,
                "received_at": received_at,
                "resource_json": json.dumps(resource, ensure_ascii=False, separators=(",", ":")),
            }
        )
    return batch
