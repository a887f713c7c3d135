"""Claims on announcement slots: the ``AnnouncementSlots`` port (``repository.py``) on
MongoDB, and its in-memory fake.

``announcements``: ``{_id: slot key, slot, since, hospitals, state, claimed_by,
claimed_at}``, ``state`` "claimed" until the fan-out finished, then "done". The unique
``_id`` makes a claim atomic, whatever the number of notify instances.
"""

from __future__ import annotations

import copy
from datetime import datetime

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notify.domain import Announcement
from shared.database import Document


def _slot_doc(announcement: Announcement, instance: str, now: datetime) -> Document:
    return {
        "_id": announcement.key,
        "slot": announcement.slot,
        "since": announcement.since,
        "hospitals": announcement.hospitals,
        "state": "claimed",
        "claimed_by": instance,
        "claimed_at": now,
    }


def _announcement(doc: Document) -> Announcement:
    return Announcement(doc["_id"], doc["slot"], doc["since"], list(doc["hospitals"]))


class MongoAnnouncementSlots:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.announcements

    async def holds(self, key: str) -> bool:
        return await self._coll.find_one({"_id": key}, {"_id": 1}) is not None

    async def previous(self, slot: datetime) -> datetime | None:
        doc = await self._coll.find_one({"slot": {"$lt": slot}}, sort=[("slot", DESCENDING)])
        return doc["slot"] if doc else None

    async def claim(self, announcement: Announcement, instance: str, now: datetime) -> bool:
        try:
            await self._coll.insert_one(_slot_doc(announcement, instance, now))
        except DuplicateKeyError:
            return False
        return True

    async def unfinished(self) -> list[Announcement]:
        return [_announcement(doc) async for doc in self._coll.find({"state": "claimed"})]

    async def finish(self, key: str) -> None:
        await self._coll.update_one({"_id": key}, {"$set": {"state": "done"}})


class MemoryAnnouncementSlots:
    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    async def holds(self, key: str) -> bool:
        return key in self.docs

    async def previous(self, slot: datetime) -> datetime | None:
        return max((d["slot"] for d in self.docs.values() if d["slot"] < slot), default=None)

    async def claim(self, announcement: Announcement, instance: str, now: datetime) -> bool:
        if announcement.key in self.docs:
            return False
        self.docs[announcement.key] = copy.deepcopy(_slot_doc(announcement, instance, now))
        return True

    async def unfinished(self) -> list[Announcement]:
        return [_announcement(d) for d in self.docs.values() if d["state"] == "claimed"]

    async def finish(self, key: str) -> None:
        self.docs[key]["state"] = "done"
