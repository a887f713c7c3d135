"""Consent storage: patients, hospitals and versioned consent states with an outbox.

Every change is one single-document write (FerretDB has no multi-document
transactions): the new state, its version, a history entry and the events to
publish go into the same document; an event leaves the outbox only after Kafka
acknowledged it (``relay`` re-sends anything a crash left behind).

Collections: ``consents`` (key CID), ``hospitals`` (key code), ``patients`` (key
CID; its outbox holds the patient events), ``attempts`` (key ``CID:day``, the
verification counter), ``sweeps`` (where the expiry sweep starts). Every query is
served by an index on FerretDB 1.24 too (``indexes.py``, docs/indexes.md): the relay
finds outboxes by a flag (``outbox_pending: true`` while the outbox holds events,
unset with its last one), and the expiry sweep reads consents by the day their next
per-visit consent ends (``expiry_day``), day by day from where the last sweep left
off. ``migrate`` brings documents written before those fields in, once per database.
``fakes.MemoryConsentRepository`` is the in-memory fake for unit tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.consent.domain import expiry_day, sweep_days
from shared.database import Document
from shared.events import Envelope
from shared.keylocks import KeyLocks

KINDS = ("consents", "hospitals", "patients")
PENDING = "outbox_pending"
EXPIRY_SWEEP = "expiry"


def with_expiry_day(fields: Document) -> Document:
    """``fields`` and, when they set ``next_expiry``, the ``expiry_day`` it falls on."""
    if "next_expiry" not in fields:
        return fields
    return {**fields, "expiry_day": expiry_day(fields["next_expiry"])}


def history_entry(version: int, event: Envelope, state: dict[str, Any]) -> Document:
    return {
        "version": version,
        "event_id": event.id,
        "type": event.type,
        "time": event.time,
        "state": state,
    }


class ConsentRepository(Protocol):
    async def add_patient(self, cid: str, fields: Document, event: Envelope) -> bool: ...
    async def get_patient(self, cid: str) -> Document | None: ...
    async def patient_event(self, cid: str, event: Envelope, verified_at: datetime | None) -> None:
        """Queue ``event`` in the patient's outbox (and note a first verification)."""
        ...

    async def get(self, kind: str, key: str) -> tuple[int, dict[str, Any]]: ...
    async def list_states(self, kind: str) -> list[Document]: ...
    async def save(
        self,
        kind: str,
        key: str,
        expected: int,
        state: dict[str, Any],
        events: list[Envelope],
        fields: Document,
    ) -> bool:
        """Compare-and-set: write version ``expected + 1`` only if ``expected`` is current."""
        ...

    async def pending(self, kind: str) -> list[tuple[str, Envelope]]: ...
    async def published(self, kind: str, key: str, *event_ids: str) -> None: ...
    async def history(self, kind: str, key: str) -> list[Document]: ...
    async def due_expiries(self, now: datetime) -> list[str]: ...
    async def consents_that_may_name(self, code: str) -> list[tuple[str, dict[str, Any]]]:
        """``(cid, state)`` of every consent that could cover ``code``: "all hospitals",
        ``code`` listed, or a per-visit consent (a superset: the caller decides)."""
        ...

    async def providers(self) -> list[str]: ...
    async def reserve_attempt(self, cid: str, day: str, limit: int) -> int | None:
        """Count one attempt unless ``limit`` are counted; the new count, or None."""
        ...

    async def release_attempt(self, cid: str, day: str) -> None: ...


class MongoConsentRepository:
    """``kind`` is ``"consents"`` (keyed by CID), ``"hospitals"`` (by code) or ``"patients"``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
        self._writing = KeyLocks()  # writes to one document in turn (shared/keylocks.py)

    async def add_patient(self, cid: str, fields: Document, event: Envelope) -> bool:
        doc = {"_id": cid, **fields, "outbox": [event.model_dump(mode="json")], PENDING: True}
        try:
            await self._db.patients.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def get_patient(self, cid: str) -> Document | None:
        return await self._db.patients.find_one({"_id": cid}, {"outbox": 0})

    async def patient_event(self, cid: str, event: Envelope, verified_at: datetime | None) -> None:
        update: Document = {
            "$push": {"outbox": event.model_dump(mode="json")},
            "$set": {PENDING: True},
        }
        if verified_at is not None:
            update["$min"] = {"verified_at": verified_at}
        async with self._writing.hold(("patients", cid)):
            await self._db.patients.update_one({"_id": cid}, update)

    async def get(self, kind: str, key: str) -> tuple[int, dict[str, Any]]:
        doc = await self._db[kind].find_one({"_id": key}, {"version": 1, "state": 1})
        return (int(doc["version"]), dict(doc["state"])) if doc else (0, {})

    async def list_states(self, kind: str) -> list[Document]:
        cursor = self._db[kind].find({}, {"version": 1, "state": 1}).sort("_id", 1)
        return [doc async for doc in cursor]

    async def save(
        self,
        kind: str,
        key: str,
        expected: int,
        state: dict[str, Any],
        events: list[Envelope],
        fields: Document,
    ) -> bool:
        entry = history_entry(expected + 1, events[0], state)
        outbox = [event.model_dump(mode="json") for event in events]
        fields = with_expiry_day(fields)
        if expected == 0:
            doc = {
                "_id": key,
                "version": 1,
                "state": state,
                **fields,
                "history": [entry],
                "outbox": outbox,
                PENDING: True,
            }
            try:
                await self._db[kind].insert_one(doc)
            except DuplicateKeyError:
                return False
            return True
        async with self._writing.hold((kind, key)):
            result = await self._db[kind].update_one(
                {"_id": key, "version": expected},
                {
                    "$set": {"version": expected + 1, "state": state, **fields, PENDING: True},
                    "$push": {"history": entry, "outbox": {"$each": outbox}},
                },
            )
        return result.modified_count == 1

    async def pending(self, kind: str) -> list[tuple[str, Envelope]]:
        found: list[tuple[str, Envelope]] = []
        async for doc in self._db[kind].find({PENDING: True}, {"outbox": 1}):
            if not doc.get("outbox"):  # flagged, empty: its last event went, the unset did not
                async with self._writing.hold((kind, doc["_id"])):
                    await self._db[kind].update_one(
                        {"_id": doc["_id"], "outbox": []}, {"$unset": {PENDING: ""}}
                    )
            found += [(doc["_id"], Envelope.model_validate(e)) for e in doc.get("outbox", [])]
        return found

    async def published(self, kind: str, key: str, *event_ids: str) -> None:
        """Drop the sent events from the outbox, in one write.

        FerretDB 1.x's ``$pull`` matches array elements by whole value only (a condition
        such as ``{"id": ...}`` matches nothing), so pull the stored entries themselves
        (``$pullAll``). The last events leave with the flag, in the same write, unless
        another was pushed since.
        """
        async with self._writing.hold((kind, key)):
            await self._pull(kind, key, event_ids)

    async def _pull(self, kind: str, key: str, event_ids: tuple[str, ...]) -> None:
        doc = await self._db[kind].find_one({"_id": key}, {"outbox": 1})
        outbox = (doc or {}).get("outbox", [])
        sent = [e for e in outbox if e.get("id") in event_ids]
        if not sent:
            return
        if len(sent) == len(outbox):
            last = await self._db[kind].update_one(
                {"_id": key, "outbox": outbox},
                {"$pullAll": {"outbox": sent}, "$unset": {PENDING: ""}},
            )
            if last.matched_count:
                return
        await self._db[kind].update_one({"_id": key}, {"$pullAll": {"outbox": sent}})

    async def history(self, kind: str, key: str) -> list[Document]:
        doc = await self._db[kind].find_one({"_id": key}, {"history": 1})
        return list(doc["history"]) if doc else []

    async def due_expiries(self, now: datetime) -> list[str]:
        """Consents due, read by ``expiry_day`` from the sweep's first day to today.

        A consent on a day before today is due (its end has passed); if expiring it
        fails it is still there, so the next sweep starts from the earliest day a due
        consent was found on (or today)."""
        sweep = await self._db.sweeps.find_one({"_id": EXPIRY_SWEEP})
        start = sweep["through"] if sweep else None
        due: list[tuple[str, str]] = []
        for day in sweep_days(start, now):
            cursor = self._db.consents.find({"expiry_day": day}, {"next_expiry": 1})
            async for doc in cursor:
                at = doc.get("next_expiry")
                if at is not None and _naive(at) <= _naive(now):
                    due.append((day, doc["_id"]))
        through = min([day for day, _ in due], default=expiry_day(now))
        if through != start:  # moves once a day, or after a failed expiry
            await self._db.sweeps.update_one(
                {"_id": EXPIRY_SWEEP}, {"$set": {"through": through}}, upsert=True
            )
        return [cid for _, cid in due]

    async def consents_that_may_name(self, code: str) -> list[tuple[str, dict[str, Any]]]:
        either = [
            {"state.all_hospitals": True},
            {"state.hospitals": code},
            {"next_expiry": {"$ne": None}},
        ]
        cursor = self._db.consents.find({"$or": either}, {"state": 1})
        return [(doc["_id"], dict(doc["state"])) async for doc in cursor]

    async def providers(self) -> list[str]:
        cursor = self._db.hospitals.find(
            {"state.role": "provider", "state.active": True}, {"_id": 1}
        )
        return [doc["_id"] async for doc in cursor]

    async def reserve_attempt(self, cid: str, day: str, limit: int) -> int | None:
        try:
            doc = await self._db.attempts.find_one_and_update(
                {"_id": f"{cid}:{day}", "count": {"$lt": limit}},
                {"$inc": {"count": 1}, "$set": {"cid": cid, "day": day}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return None  # the day's document exists and is at the limit
        return int(doc["count"]) if doc else None

    async def release_attempt(self, cid: str, day: str) -> None:
        await self._db.attempts.update_one(
            {"_id": f"{cid}:{day}", "count": {"$gt": 0}}, {"$inc": {"count": -1}}
        )


def _naive(at: datetime) -> datetime:
    """UTC without a zone: the database hands dates back naive."""
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at
