"""Notify's storage: one ``Protocol`` per port the use cases need, the MongoDB
implementation and an in-memory fake (for unit tests) of each.

Ports, their collections, and where they are implemented:

=================  ===================  ===============================================
port               collection           implementations
=================  ===================  ===============================================
Inbox              ``inbox``            here (``MongoInbox``, ``MemoryInbox``)
Patients           ``patients``         here
Preferences        ``preferences``      here
Directory          ``hospital_view``,   here (reads the copies ``ConsentProjection``
                   ``consent_view``     keeps; ``shared/projections.py`` writes them)
AnnouncementSlots  ``announcements``    ``slots.py`` (claims on announcement slots)
DigestItems        ``digest_items``     ``digest.py`` (the hourly digest's parked items)
Deliveries         ``deliveries``       ``deliveries.py`` (the webhook's queue)
=================  ===================  ===============================================

Every write is keyed by an id derived from what caused it (``domain.py``), and an id
already held is left as it is: redelivered events change nothing.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain import Announcement, Entry, Preference
from shared.database import Document, insert_new
from shared.projections import MemoryVersions

Fact = Literal["registered", "consented"]  # what notify heard about a patient


class Inbox(Protocol):
    """Patients' notifications, one document per notification id."""

    async def put_many(self, entries: list[Entry]) -> None:
        """Store several at once, unread; ids already held are left as they are."""
        ...

    async def page(self, patient: str, skip: int, limit: int) -> list[Document]:
        """The patient's notifications, newest first."""
        ...

    async def mark_read(self, patient: str, notification_id: str) -> bool:
        """False when the patient has no such notification."""
        ...


class Patients(Protocol):
    """Every patient notify heard of (registered, or with a consent): who announcements tell."""

    async def note(self, cid: str, fact: Fact) -> None: ...
    def cids(self) -> AsyncIterator[str]: ...


class Preferences(Protocol):
    async def get(self, cid: str) -> Preference:
        """``immediate`` unless the patient chose ``hourly``."""
        ...

    async def put(self, cid: str, accesses: Preference) -> None: ...


class Directory(Protocol):
    """Whole scans of notify's copies of hospital and consent states."""

    async def hospitals(self) -> list[Document]:
        """Every hospital as ``{"_id": code, "version", "state"}``."""
        ...

    async def all_hospitals_consents(self) -> set[str]:
        """The CIDs whose consent covers all hospitals."""
        ...


class AnnouncementSlots(Protocol):
    """Claims on announcement slots: a slot is claimed once, by one instance."""

    async def holds(self, key: str) -> bool: ...
    async def previous(self, slot: datetime) -> datetime | None:
        """The latest claimed slot before ``slot``."""
        ...

    async def claim(self, announcement: Announcement, instance: str, now: datetime) -> bool:
        """Atomically claim the slot; False when it was claimed before (by anyone)."""
        ...

    async def unfinished(self) -> list[Announcement]:
        """Claimed slots whose fan-out did not finish (the claimer crashed)."""
        ...

    async def finish(self, key: str) -> None: ...


class DigestItems(Protocol):
    """Accesses parked for a patient's hourly digest (``digest.py``)."""

    async def park(self, item_id: str, patient: str, bucket: str, item: Document) -> None:
        """Keep an access in ``bucket`` (once per item id)."""
        ...

    async def unclaimed(self) -> list[tuple[str, str, str]]:
        """``(item id, patient, bucket)`` of every item no digest holds yet."""
        ...

    async def claim(self, item_ids: list[str], digest_id: str) -> None:
        """Give those of ``item_ids`` still unclaimed to ``digest_id``."""
        ...

    async def unfinished(self) -> list[str]:
        """Digest ids claimed but not yet told, sorted."""
        ...

    async def items(self, digest_id: str) -> list[Document]:
        """The digest's items (``_id``, ``patient``, ``bucket``, ``item``), by id."""
        ...

    async def finish(self, digest_id: str) -> None: ...


class Deliveries(Protocol):
    """The webhook's queue, one delivery per notification id (``deliveries.py``)."""

    async def enqueue_many(self, items: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """Queue ``(id, payload)`` pairs; the ids that were new (others are left alone)."""
        ...

    async def claim(self, lease: timedelta) -> Document | None:
        """Take one due delivery (or one whose sender crashed) for ``lease``."""
        ...

    async def finish(self, notification_id: str, state: str, **fields: Any) -> None: ...
    async def set_aside(self, skip: int, limit: int) -> list[Document]:
        """Deliveries given up on, without their bodies."""
        ...

    async def retry(self, notification_id: str) -> bool:
        """Queue a set-aside delivery again, with fresh attempts; False if none."""
        ...


def _inbox_doc(entry: Entry) -> Document:
    notification_id, patient, fields = entry
    return {"_id": notification_id, "patient": patient, "read": False, **fields}


class MongoInbox:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.inbox

    @property
    def database(self) -> AsyncDatabase[Document]:
        return self._coll.database

    async def put_many(self, entries: list[Entry]) -> None:
        await insert_new(self._coll, [_inbox_doc(entry) for entry in entries])

    async def page(self, patient: str, skip: int, limit: int) -> list[Document]:
        newest = self._coll.find({"patient": patient}).sort("created_at", DESCENDING)
        return [doc async for doc in newest.skip(skip).limit(limit)]

    async def mark_read(self, patient: str, notification_id: str) -> bool:
        result = await self._coll.update_one(
            {"_id": notification_id, "patient": patient}, {"$set": {"read": True}}
        )
        return result.matched_count == 1


class MongoPatients:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.patients

    async def note(self, cid: str, fact: Fact) -> None:
        await self._coll.update_one({"_id": cid}, {"$set": {fact: True}}, upsert=True)

    async def cids(self) -> AsyncIterator[str]:
        async for doc in self._coll.find({}, {"_id": 1}):
            yield str(doc["_id"])


class MongoPreferences:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.preferences

    async def get(self, cid: str) -> Preference:
        doc = await self._coll.find_one({"_id": cid})
        return "hourly" if doc and doc.get("accesses") == "hourly" else "immediate"

    async def put(self, cid: str, accesses: Preference) -> None:
        await self._coll.update_one({"_id": cid}, {"$set": {"accesses": accesses}}, upsert=True)


class MongoDirectory:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._hospitals, self._consents = db.hospital_view, db.consent_view

    async def hospitals(self) -> list[Document]:
        return [doc async for doc in self._hospitals.find({})]

    async def all_hospitals_consents(self) -> set[str]:
        everyone = self._consents.find({"state.all_hospitals": True}, {"_id": 1})
        return {str(doc["_id"]) async for doc in everyone}


class MemoryInbox:
    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    async def put_many(self, entries: list[Entry]) -> None:
        for entry in entries:
            self.docs.setdefault(entry[0], _inbox_doc(copy.deepcopy(entry)))

    async def page(self, patient: str, skip: int, limit: int) -> list[Document]:
        mine = [d for d in self.docs.values() if d["patient"] == patient]
        newest = sorted(mine, key=lambda d: d["created_at"], reverse=True)
        return copy.deepcopy(newest[skip : skip + limit])

    async def mark_read(self, patient: str, notification_id: str) -> bool:
        doc = self.docs.get(notification_id)
        if doc is None or doc["patient"] != patient:
            return False
        doc["read"] = True
        return True


class MemoryPatients:
    def __init__(self) -> None:
        self.facts: dict[str, set[Fact]] = {}

    async def note(self, cid: str, fact: Fact) -> None:
        self.facts.setdefault(cid, set()).add(fact)

    async def cids(self) -> AsyncIterator[str]:
        for cid in list(self.facts):
            yield cid


class MemoryPreferences:
    def __init__(self) -> None:
        self.chosen: dict[str, Preference] = {}

    async def get(self, cid: str) -> Preference:
        return self.chosen.get(cid, "immediate")

    async def put(self, cid: str, accesses: Preference) -> None:
        self.chosen[cid] = accesses


class MemoryDirectory:
    """Reads the same ``MemoryVersions`` an in-memory ``ConsentProjection`` writes."""

    def __init__(self, consents: MemoryVersions, hospitals: MemoryVersions) -> None:
        self._consents, self._hospitals = consents, hospitals

    async def hospitals(self) -> list[Document]:
        return copy.deepcopy(list(self._hospitals.docs.values()))

    async def all_hospitals_consents(self) -> set[str]:
        docs = self._consents.docs.items()
        return {cid for cid, doc in docs if doc["state"].get("all_hospitals")}
