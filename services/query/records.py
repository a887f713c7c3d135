"""Reading stored records (the ingest service's store, read-only) and shaping them as FHIR."""

from __future__ import annotations

import copy
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from shared.cid import HCODE_SYSTEM
from shared.database import Document
from shared.projections import ConsentView

SOURCE_PREFIX = "urn:healthlink:hospital:"


class RecordReader:
    def __init__(self, records: AsyncCollection[Document]) -> None:
        self._records = records

    async def for_patient(
        self, cid: str, consent: ConsentView, limit: int = 5000
    ) -> list[Document]:
        """Records the consent may cover, newest first (``access.can_see`` decides)."""
        query: Document = {"patient": cid}
        if not consent.all_hospitals:
            query["hospital"] = {"$in": sorted(consent.hospitals)}
        if not consent.allow_sensitive:
            query["sensitive"] = False
        cursor = self._records.find(query, {"rank": 0, "upload_id": 0}).sort("date", -1)
        return [doc async for doc in cursor.limit(limit)]


def with_source(doc: Document) -> dict[str, Any]:
    """The stored resource, marked with the hospital that sent it."""
    resource: dict[str, Any] = copy.copy(doc["resource"])
    meta = dict(resource.get("meta") or {})
    meta["source"] = SOURCE_PREFIX + doc["hospital"]
    meta["tag"] = [*meta.get("tag", []), {"system": HCODE_SYSTEM, "code": doc["hospital"]}]
    resource["meta"] = meta
    return resource


def searchset(resources: list[dict[str, Any]], self_url: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [
            {
                "fullUrl": f"{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }
