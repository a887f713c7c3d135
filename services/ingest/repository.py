"""Ingest's storage: one ``Protocol`` per port the use cases need, the MongoDB
(FerretDB) implementation and an in-memory fake (for unit tests) of each.

=============  ==================  ============================================
port           collection          implementations
=============  ==================  ============================================
Records        ``records``         ``MongoRecords``, ``MemoryRecords``
HeldUploads    ``held``            ``MongoHeldUploads``, ``MemoryHeldUploads``
Views          ``consent_view``,   ``shared.projections.ConsentProjection``
               ``hospital_view``   (``in_database`` / ``in_memory``)
=============  ==================  ============================================

``records``: one document per FHIR resource, written idempotently. ``_id`` is
``{hospital}/{resourceType}/{id}``, so the same resource sent twice is one document.
``rank`` orders versions (``meta.lastUpdated`` then ``meta.versionId``): a write lands
only when its rank is higher, so an older version never overwrites a newer one and a
redelivery changes nothing.

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

``held``: uploads without consent (or from a sender not known yet), kept until
the patient consents (``_id`` = upload id, the original bytes and headers).

The indexes, and the query shapes they serve, are declared in ``indexes.py``.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase

from shared.coverage import HospitalState
from shared.database import Document, insert_new
from shared.events import Envelope
from shared.projections import Consent

KNOWN_RANKS = 200_000  # ids remembered per instance (~40 MB at most)


class Records(Protocol):
    """The stored resources, newest version per id."""

    async def upsert_many(self, docs: list[Document]) -> set[str]:
        """Write each doc unless a same-or-newer version is stored; the ids that landed.

        ``docs`` holds each id once (``domain.newest_per_id``).
        """
        ...


class HeldUploads(Protocol):
    """Uploads waiting for a consent (or for their sender to be known)."""

    async def hold(
        self, key: str, patient: str, hospital: str, value: bytes, headers: dict[str, str]
    ) -> None:
        """Keep an upload under its upload id (once: holding it again changes nothing)."""
        ...

    async def held_for(self, patient: str) -> list[Document]: ...

    async def held_patients(self, hospital: str) -> list[str]:
        """The patients with uploads held from ``hospital``, sorted."""
        ...

    async def release(self, key: str) -> None: ...


class Views(Protocol):
    """The local consent and hospital read models (``shared.projections``)."""

    async def consent(self, cid: str) -> Consent | None: ...

    async def hospital(self, code: str) -> HospitalState | None: ...

    async def consents_of(self, cids: list[str]) -> dict[str, Consent | None]: ...

    async def hospitals_of(self, codes: list[str]) -> dict[str, HospitalState | None]: ...

    async def on_consent_event(self, event: Envelope) -> bool: ...

    async def on_hospital_event(self, event: Envelope) -> bool: ...


def _newer(doc: Document) -> tuple[Document, Document]:
    """Filter and update that replace the stored version only with a newer one."""
    return {"_id": doc["_id"], "rank": {"$lt": doc["rank"]}}, {"$set": doc}


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


class MongoRecords:
    """``records`` on MongoDB (FerretDB)."""

    def __init__(self, db: AsyncDatabase[Document], known: KnownRanks | None = None) -> None:
        self._records = db.records
        self._known = known or KnownRanks()

    async def upsert_many(self, docs: list[Document]) -> set[str]:
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


class MongoHeldUploads:
    """``held`` on MongoDB (FerretDB)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._held = db.held

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


class MemoryRecords:
    """The fake ``records``, same rules; ``writes`` counts the documents that landed."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}
        self.writes = 0

    async def upsert_many(self, docs: list[Document]) -> set[str]:
        written = set()
        for doc in docs:
            stored = self.docs.get(doc["_id"])
            if stored is None or stored["rank"] < doc["rank"]:
                self.docs[doc["_id"]] = dict(doc)
                written.add(doc["_id"])
        self.writes += len(written)
        return written


class MemoryHeldUploads:
    """The fake ``held``."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    async def hold(
        self, key: str, patient: str, hospital: str, value: bytes, headers: dict[str, str]
    ) -> None:
        self.docs[key] = {
            "_id": key,
            "patient": patient,
            "hospital": hospital,
            "value": value,
            "headers": dict(headers),
        }

    async def held_for(self, patient: str) -> list[Document]:
        return [dict(d) for d in self.docs.values() if d["patient"] == patient]

    async def held_patients(self, hospital: str) -> list[str]:
        return sorted({d["patient"] for d in self.docs.values() if d["hospital"] == hospital})

    async def release(self, key: str) -> None:
        self.docs.pop(key, None)
