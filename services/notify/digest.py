"""The hourly digest's parked items: the ``DigestItems`` port (``repository.py``) on
MongoDB, and its in-memory fake.

An access notification for a patient who prefers ``hourly`` is parked as an item
(``_id`` = the notification id it would have had, so a redelivery parks it once) in the
bucket of the UTC hour it arrived. When an hour is over, ``handlers.flush_digests``
turns its items into one digest:

1. the digest id is derived from the set of unclaimed items (a late item makes a new set);
2. the items are claimed for that id, then the digest is notified, then marked done.

A crash after 2 leaves claimed, unfinished items: the next flush notifies the same id
again (the inbox and the webhook queue ignore a repeat) and marks them done.

An unclaimed item's ``digest`` is ``""`` (``UNCLAIMED``), not ``None``, and items are
claimed one by one by ``_id``: FerretDB 1.24 pushes neither ``null`` nor ``$in`` down,
so those queries read the whole collection; these are served by indexes
(``indexes.py``). Items parked as ``None`` before are migrated at start (``migrations.py``).
"""

from __future__ import annotations

import copy

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.database import Document

UNCLAIMED = ""


def _item_doc(item_id: str, patient: str, bucket: str, item: Document) -> Document:
    return {
        "_id": item_id,
        "patient": patient,
        "bucket": bucket,
        "digest": UNCLAIMED,
        "done": False,
        "item": item,
    }


class MongoDigestItems:
    """``digest_items``: ``{_id, patient, bucket, digest (id or ""), done, item}``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.digest_items

    async def park(self, item_id: str, patient: str, bucket: str, item: Document) -> None:
        doc = _item_doc(item_id, patient, bucket, item)
        del doc["_id"]
        await self._coll.update_one({"_id": item_id}, {"$setOnInsert": doc}, upsert=True)

    async def unclaimed(self) -> list[tuple[str, str, str]]:
        cursor = self._coll.find({"digest": UNCLAIMED}, {"patient": 1, "bucket": 1})
        return [(doc["_id"], doc["patient"], doc["bucket"]) async for doc in cursor]

    async def claim(self, item_ids: list[str], digest_id: str) -> None:
        for item_id in item_ids:
            await self._coll.update_one(
                {"_id": item_id, "digest": UNCLAIMED}, {"$set": {"digest": digest_id}}
            )

    async def unfinished(self) -> list[str]:
        ids = await self._coll.distinct("digest", {"done": False, "digest": {"$ne": UNCLAIMED}})
        return sorted(str(i) for i in ids)

    async def items(self, digest_id: str) -> list[Document]:
        cursor = self._coll.find({"digest": digest_id}).sort("_id", ASCENDING)
        return [d async for d in cursor]

    async def finish(self, digest_id: str) -> None:
        await self._coll.update_many({"digest": digest_id}, {"$set": {"done": True}})


class MemoryDigestItems:
    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    async def park(self, item_id: str, patient: str, bucket: str, item: Document) -> None:
        self.docs.setdefault(item_id, _item_doc(item_id, patient, bucket, copy.deepcopy(item)))

    async def unclaimed(self) -> list[tuple[str, str, str]]:
        docs = self.docs.values()
        return [(d["_id"], d["patient"], d["bucket"]) for d in docs if d["digest"] == UNCLAIMED]

    async def claim(self, item_ids: list[str], digest_id: str) -> None:
        for item_id in item_ids:
            if self.docs[item_id]["digest"] == UNCLAIMED:
                self.docs[item_id]["digest"] = digest_id

    async def unfinished(self) -> list[str]:
        docs = self.docs.values()
        return sorted({d["digest"] for d in docs if d["digest"] and not d["done"]})

    async def items(self, digest_id: str) -> list[Document]:
        held = [d for d in self.docs.values() if d["digest"] == digest_id]
        return copy.deepcopy(sorted(held, key=lambda d: str(d["_id"])))

    async def finish(self, digest_id: str) -> None:
        for doc in self.docs.values():
            if doc["digest"] == digest_id:
                doc["done"] = True
