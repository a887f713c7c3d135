"""The semi-monthly announcement of newly participating hospitals, exactly once per slot.

On every tick (any number of notify instances, any clock): the latest due slot
(``schedule.latest_due_slot(now)``) is claimed by inserting ``{_id: slot_key}`` into
``announcements``; a unique insert is atomic, so exactly one instance wins, and a
restart finds the slot already claimed. The winner stores which hospitals joined since
the previous announcement, then notifies every patient under the id
``announce-<slot_key>-<cid>`` (so resuming a fan-out never repeats a patient) and
marks the slot done. Claimed but unfinished slots (the winner crashed) are resumed by
any instance. After downtime the latest missed slot fires late, covering every
hospital since the previous announcement: nothing is missed, nothing doubled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notify import texts
from services.notify.schedule import latest_due_slot, slot_key
from services.notify.texts import Text
from shared.database import Document
from shared.logging import get_logger

log = get_logger(__name__)

Notify = Callable[[str, str, str, Text, dict[str, Any]], Awaitable[None]]


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def joined_between(hospitals: list[Document], since: datetime, until: datetime) -> list[Document]:
    """Hospitals that joined, or became providers, in ``(since, until]``, by name."""
    found = []
    for doc in hospitals:
        state = doc.get("state", {})
        times = [_when(state.get("joined_at")), _when(state.get("provider_since"))]
        if state.get("active", True) and any(t and since < t <= until for t in times):
            found.append(state)
    return sorted(found, key=lambda s: (str(s.get("name", "")), str(s.get("code", ""))))


class Announcer:
    def __init__(
        self, db: AsyncDatabase[Document], notify: Notify, instance: str = "notify"
    ) -> None:
        self._slots = db.announcements
        self._hospitals = db.hospital_view
        self._consents = db.consent_view
        self._patients = db.patients
        self._notify = notify
        self._instance = instance

    async def tick(self, now: datetime) -> str | None:
        """Claim and announce the latest due slot if nobody has; the key if we did."""
        await self.resume()
        slot = latest_due_slot(now)
        key = slot_key(slot)
        if await self._slots.find_one({"_id": key}, {"_id": 1}) is not None:
            return None
        previous = await self._slots.find_one({"slot": {"$lt": slot}}, sort=[("slot", DESCENDING)])
        since = previous["slot"] if previous else latest_due_slot(slot - timedelta(seconds=1))
        joined = joined_between([d async for d in self._hospitals.find({})], since, slot)
        doc = {
            "_id": key,
            "slot": slot,
            "since": since,
            "hospitals": [{"code": h.get("code"), "name": h.get("name")} for h in joined],
            "state": "claimed",
            "claimed_by": self._instance,
            "claimed_at": now,
        }
        try:
            await self._slots.insert_one(doc)
        except DuplicateKeyError:
            return None  # another instance claimed it first
        log.info("announcement slot claimed", slot=key, hospitals=len(joined))
        await self._fan_out(doc)
        return key

    async def resume(self) -> None:
        async for doc in self._slots.find({"state": "claimed"}):
            await self._fan_out(doc)

    async def _fan_out(self, doc: Document) -> None:
        names = [str(h.get("name") or h.get("code")) for h in doc["hospitals"]]
        if names:
            all_consent = {
                d["_id"] async for d in self._consents.find({"state.all_hospitals": True})
            }
            async for patient in self._patients.find({}, {"_id": 1}):
                cid = str(patient["_id"])
                text = texts.hospitals_joined(names, cid in all_consent)
                data = {"slot": doc["_id"], "hospitals": doc["hospitals"]}
                await self._notify(
                    f"announce-{doc['_id']}-{cid}", cid, "hospitals-joined", text, data
                )
        await self._slots.update_one({"_id": doc["_id"]}, {"$set": {"state": "done"}})

    async def claimed(self) -> list[Document]:
        return [d async for d in self._slots.find({}).sort("slot", DESCENDING)]
