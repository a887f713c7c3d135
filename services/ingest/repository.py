"""The record store: one document per FHIR resource, written idempotently.

``_id`` is ``{hospital}/{resourceType}/{id}``, so the same resource sent twice is
one document. ``rank`` orders versions (``meta.lastUpdated`` then
``meta.versionId``): a write lands only when its rank is higher, so an older
version never overwrites a newer one and a redelivery changes nothing.

Writes go insert-first: new resources (the common case) cost one ``insert_many``;
only the ids that already exist are retried as conditional updates. (On FerretDB
an ``$in`` look-up over ``_id`` is far slower than a failed insert.)

Uploads without consent are held here until the patient consents.
"""

from __future__ import annotations

from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.database import Document

DUPLICATE_KEY = 11000


class Store(Protocol):
    """What the ingest use cases need from storage."""

    async def upsert_many(self, docs: list[Document]) -> int: ...

    async def hold(
        self, key: str, patient: str, hospital: str, value: bytes, headers: dict[str, str]
    ) -> None: ...

    async def held_for(self, patient: str) -> list[Document]: ...

    async def held_patients(self, hospital: str) -> list[str]: ...

    async def release(self, key: str) -> None: ...


def _newer(doc: Document) -> UpdateOne:
    return UpdateOne({"_id": doc["_id"], "rank": {"$lt": doc["rank"]}}, {"$set": doc})


class RecordStore:
    """The MongoDB (FerretDB) implementation."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._records = db.records
        self._held = db.held

    async def ensure_indexes(self) -> None:
        await self._records.create_index(
            [("patient", ASCENDING), ("category", ASCENDING), ("date", DESCENDING)],
            name="patient_category_date",
        )
        await self._records.create_index(
            [("patient", ASCENDING), ("type", ASCENDING), ("date", DESCENDING)],
            name="patient_type_date",
        )
        await self._held.create_index([("patient", ASCENDING)], name="held_patient")
        await self._held.create_index([("hospital", ASCENDING)], name="held_hospital")

    async def upsert_many(self, docs: list[Document]) -> int:
        """Write each doc unless a same-or-newer version is stored; returns how many landed."""
        if not docs:
            return 0
        try:
            result = await self._records.insert_many(docs, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as exc:  # some ids exist: an earlier version or a redelivery
            details: Any = exc.details
            errors = details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            existing = [docs[e["index"]] for e in errors]
            inserted = len(docs) - len(existing)
            updated = await self._records.bulk_write([_newer(d) for d in existing], ordered=False)
            return inserted + updated.modified_count

    async def count(self, query: Document) -> int:
        return await self._records.count_documents(query)

    async def hold(
        self, key: str, patient: str, hospital: str, value: bytes, headers: dict[str, str]
    ) -> None:
        doc = {"patient": patient, "hospital": hospital, "value": value, "headers": headers}
        await self._held.update_one({"_id": key}, {"$set": doc}, upsert=True)

    async def held_for(self, patient: str) -> list[Document]:
        return [d async for d in self._held.find({"patient": patient})]

    async def held_patients(self, hospital: str) -> list[str]:
        cursor = self._held.find({"hospital": hospital}, {"patient": 1})
        return sorted({d["patient"] async for d in cursor})

    async def release(self, key: str) -> None:
        await self._held.delete_one({"_id": key})


class InMemoryStore:
    """A fake with the same rules, for unit tests."""

    def __init__(self) -> None:
        self.records: dict[str, Document] = {}
        self.held: dict[str, Document] = {}
        self.writes = 0

    async def upsert_many(self, docs: list[Document]) -> int:
        written = 0
        for doc in docs:
            stored = self.records.get(doc["_id"])
            if stored is None or stored["rank"] < doc["rank"]:
                self.records[doc["_id"]] = dict(doc)
                written += 1
        self.writes += written
        return written

    async def hold(
        self, key: str, patient: str, hospital: str, value: bytes, headers: dict[str, str]
    ) -> None:
        self.held[key] = {
            "_id": key,
            "patient": patient,
            "hospital": hospital,
            "value": value,
            "headers": dict(headers),
        }

    async def held_for(self, patient: str) -> list[Document]:
        return [dict(d) for d in self.held.values() if d["patient"] == patient]

    async def held_patients(self, hospital: str) -> list[str]:
        return sorted({d["patient"] for d in self.held.values() if d["hospital"] == hospital})

    async def release(self, key: str) -> None:
        self.held.pop(key, None)
