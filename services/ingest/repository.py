"""The record store: one document per FHIR resource, written idempotently.

``_id`` is ``{hospital}/{resourceType}/{id}``, so the same resource sent twice is
one document. ``rank`` orders versions (``meta.lastUpdated`` then
``meta.versionId``): a write lands only when its rank is higher, so an older
version never overwrites a newer one and a redelivery changes nothing.
Uploads without consent are held here until the patient consents.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.database import Document


class RecordStore:
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

    async def upsert_many(self, docs: list[Document]) -> int:
        """Write each doc unless a same-or-newer version is stored; returns how many landed."""
        if not docs:
            return 0
        ids = [d["_id"] for d in docs]
        stored = {
            d["_id"]: d["rank"]
            async for d in self._records.find({"_id": {"$in": ids}}, {"rank": 1})
        }
        fresh = [d for d in docs if d["_id"] not in stored]
        newer = [d for d in docs if d["_id"] in stored and d["rank"] > stored[d["_id"]]]
        written = await self._insert_new(fresh)
        if newer:
            ops = [
                UpdateOne({"_id": d["_id"], "rank": {"$lt": d["rank"]}}, {"$set": d}) for d in newer
            ]
            result = await self._records.bulk_write(ops, ordered=False)
            written += result.modified_count
        return written

    async def _insert_new(self, docs: list[Document]) -> int:
        if not docs:
            return 0
        try:
            result = await self._records.insert_many(docs, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as exc:  # a concurrent or earlier write won the race
            details: Any = exc.details
            dupes = [e for e in details.get("writeErrors", []) if e.get("code") == 11000]
            if len(dupes) != len(details.get("writeErrors", [])):
                raise
            retry = [d for d in docs if d["_id"] in {docs[e["index"]]["_id"] for e in dupes}]
            ops = [
                UpdateOne({"_id": d["_id"], "rank": {"$lt": d["rank"]}}, {"$set": d}) for d in retry
            ]
            updated = (await self._records.bulk_write(ops, ordered=False)).modified_count
            return int(details.get("nInserted", 0)) + updated

    async def count(self, query: Document) -> int:
        return await self._records.count_documents(query)

    async def hold(
        self, key: str, patient: str, hospital: str, value: bytes, headers: dict[str, str]
    ) -> None:
        await self._held.update_one(
            {"_id": key},
            {
                "$set": {
                    "patient": patient,
                    "hospital": hospital,
                    "value": value,
                    "headers": headers,
                }
            },
            upsert=True,
        )

    async def held_for(self, patient: str) -> list[Document]:
        return [d async for d in self._held.find({"patient": patient})]

    async def release(self, key: str) -> None:
        await self._held.delete_one({"_id": key})
