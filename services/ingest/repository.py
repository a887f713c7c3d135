"""The record store: one document per FHIR resource, written idempotently.

``_id`` is ``{hospital}/{resourceType}/{id}``, so the same resource sent twice is
one document. ``rank`` orders versions (``meta.lastUpdated`` then
``meta.versionId``): a write lands only when its rank is higher, so an older
version never overwrites a newer one and a redelivery changes nothing.

Writes go insert-first: new resources (the common case) cost one ``insert_many``;
only the ids that already exist are retried as conditional updates. (On FerretDB
an ``$in`` look-up over ``_id`` is far slower than a failed insert, and every
update first scans the collection.)

``KnownRanks`` remembers, per instance, the rank each id is known to hold at
least (written here, or found present). Ranks only grow and records are never
deleted, so a document whose rank is not above the known one cannot land and is
not sent at all: the Patient, Organization and Practitioner resources repeated in
every bundle of a hospital cost nothing after the first. The memory starts empty
with each process (a replay runs with the service stopped); restart ingest after
restoring its database from a backup.

Uploads without consent are held here until the patient consents.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.database import Document, insert_new

KNOWN_RANKS = 200_000  # ids remembered per instance (~40 MB at most)


class Store(Protocol):
    """What the ingest use cases need from storage."""

    async def upsert_many(self, docs: list[Document]) -> set[str]: ...

    async def hold(
        self, key: str, patient: str, hospital: str, value: bytes, headers: dict[str, str]
    ) -> None: ...

    async def held_for(self, patient: str) -> list[Document]: ...

    async def held_patients(self, hospital: str) -> list[str]: ...

    async def release(self, key: str) -> None: ...


def _newer(doc: Document) -> tuple[Document, Document]:
    """Filter and update that replace the stored version only with a newer one."""
    return {"_id": doc["_id"], "rank": {"$lt": doc["rank"]}}, {"$set": doc}


def newest_per_id(docs: list[Document]) -> list[Document]:
    """Each id once, its highest rank kept (the first of equals): one batch, one write each."""
    newest: dict[str, Document] = {}
    for doc in docs:
        seen = newest.get(doc["_id"])
        if seen is None or seen["rank"] < doc["rank"]:
            newest[doc["_id"]] = doc
    return list(newest.values())


class KnownRanks:
    """The rank each recently written id is known to hold at least (bounded, LRU)."""

    def __init__(self, size: int = KNOWN_RANKS) -> None:
        self._size = size
        self._ranks: OrderedDict[str, str] = OrderedDict()

    def stale(self, doc: Document) -> bool:
        """Whether ``doc`` cannot land: a same-or-newer version is known to be stored."""
        known = self._ranks.get(doc["_id"])
        return known is not None and known >= doc["rank"]

    def saw(self, doc: Document) -> None:
        """The store holds ``doc``'s version or a newer one."""
        key = doc["_id"]
        if not self.stale(doc):
            self._ranks[key] = doc["rank"]
        self._ranks.move_to_end(key)
        while len(self._ranks) > self._size:
            self._ranks.popitem(last=False)


class RecordStore:
    """The MongoDB (FerretDB) implementation."""

    def __init__(self, db: AsyncDatabase[Document], known: KnownRanks | None = None) -> None:
        self._records = db.records
        self._held = db.held
        self._known = known or KnownRanks()

    async def ensure_indexes(self) -> None:
        await self._records.create_index(
            [("patient", ASCENDING), ("category", ASCENDING), ("date", DESCENDING)],
            name="patient_category_date",
        )
        await self._held.create_index([("patient", ASCENDING)], name="held_patient")
        await self._held.create_index([("hospital", ASCENDING)], name="held_hospital")

    async def upsert_many(self, docs: list[Document]) -> set[str]:
        """Write each doc unless a same-or-newer version is stored; the ids that landed.

        ``docs`` holds each id once (``newest_per_id``).
        """
        fresh = [d for d in docs if not self._known.stale(d)]
        if not fresh:
            return set()
        # Ids that exist hold an earlier version, or this one (a redelivery).
        existing = [fresh[i] for i in await insert_new(self._records, fresh)]
        missing = {d["_id"] for d in existing}
        written = {d["_id"] for d in fresh if d["_id"] not in missing}
        if existing:
            results = await asyncio.gather(
                *(self._records.update_one(*_newer(d)) for d in existing)
            )
            landed = zip(existing, results, strict=True)
            written |= {doc["_id"] for doc, result in landed if result.modified_count}
        for doc in fresh:
            self._known.saw(doc)
        return written

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

    async def upsert_many(self, docs: list[Document]) -> set[str]:
        written = set()
        for doc in docs:
            stored = self.records.get(doc["_id"])
            if stored is None or stored["rank"] < doc["rank"]:
                self.records[doc["_id"]] = dict(doc)
                written.add(doc["_id"])
        self.writes += len(written)
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
