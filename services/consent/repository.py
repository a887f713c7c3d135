"""Consent storage: patients, hospitals and versioned consent states with an outbox.

Every change is one single-document write (FerretDB has no multi-document
transactions): the new state, its version, a history entry and the event to
publish go into the same document; the event leaves the outbox only after Kafka
acknowledged it (``relay`` re-sends anything a crash left behind).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.database import Document
from shared.events import Envelope


class Versioned(Protocol):
    version: int
    state: dict[str, Any]


class ConsentRepository(Protocol):
    async def add_patient(self, cid: str, birth_date: str, at: datetime) -> bool: ...
    async def get_patient(self, cid: str) -> Document | None: ...
    async def get(self, kind: str, key: str) -> tuple[int, dict[str, Any]]: ...
    async def list_states(self, kind: str) -> list[Document]: ...
    async def save(
        self, kind: str, key: str, expected: int, state: dict[str, Any], event: Envelope
    ) -> bool: ...
    async def pending(self, kind: str) -> list[tuple[str, Envelope]]: ...
    async def published(self, kind: str, key: str, event_id: str) -> None: ...


KINDS = ("consents", "hospitals")


class MongoConsentRepository:
    """``kind`` is ``"consents"`` (keyed by CID) or ``"hospitals"`` (keyed by code)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    async def add_patient(self, cid: str, birth_date: str, at: datetime) -> bool:
        try:
            await self._db.patients.insert_one(
                {"_id": cid, "birth_date": birth_date, "registered_at": at}
            )
        except DuplicateKeyError:
            return False
        return True

    async def get_patient(self, cid: str) -> Document | None:
        return await self._db.patients.find_one({"_id": cid})

    async def get(self, kind: str, key: str) -> tuple[int, dict[str, Any]]:
        doc = await self._db[kind].find_one({"_id": key}, {"version": 1, "state": 1})
        return (int(doc["version"]), dict(doc["state"])) if doc else (0, {})

    async def list_states(self, kind: str) -> list[Document]:
        cursor = self._db[kind].find({}, {"version": 1, "state": 1}).sort("_id", 1)
        return [doc async for doc in cursor]

    async def save(
        self, kind: str, key: str, expected: int, state: dict[str, Any], event: Envelope
    ) -> bool:
        entry = {
            "version": expected + 1,
            "event_id": event.id,
            "type": event.type,
            "time": event.time,
            "state": state,
        }
        outbox = event.model_dump(mode="json")
        if expected == 0:
            try:
                await self._db[kind].insert_one(
                    {
                        "_id": key,
                        "version": 1,
                        "state": state,
                        "history": [entry],
                        "outbox": [outbox],
                    }
                )
            except DuplicateKeyError:
                return False
            return True
        result = await self._db[kind].update_one(
            {"_id": key, "version": expected},
            {
                "$set": {"version": expected + 1, "state": state},
                "$push": {"history": entry, "outbox": outbox},
            },
        )
        return result.modified_count == 1

    async def pending(self, kind: str) -> list[tuple[str, Envelope]]:
        found: list[tuple[str, Envelope]] = []
        async for doc in self._db[kind].find({"outbox.0": {"$exists": True}}, {"outbox": 1}):
            found += [(doc["_id"], Envelope.model_validate(e)) for e in doc["outbox"]]
        return found

    async def published(self, kind: str, key: str, event_id: str) -> None:
        await self._db[kind].update_one({"_id": key}, {"$pull": {"outbox": {"id": event_id}}})

    async def history(self, kind: str, key: str) -> list[Document]:
        doc = await self._db[kind].find_one({"_id": key}, {"history": 1})
        return list(doc["history"]) if doc else []

    async def ensure_indexes(self) -> None:
        """Nothing beyond ``_id`` yet: every lookup is by CID or hospital code."""
