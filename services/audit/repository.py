"""The audit log: hash-chained records, one chain per Kafka partition (single writer)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.audit.chain import ChainTip, next_record, tip_of
from shared.database import Document


def record_key(chain: str, seq: int) -> str:
    return f"{chain}:{seq:012d}"


class AuditLog:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.records

    async def ensure_indexes(self) -> None:
        await self._coll.create_index([("event_id", ASCENDING)], unique=True, name="event_id")
        await self._coll.create_index([("chain", ASCENDING), ("seq", DESCENDING)], name="chain")
        await self._coll.create_index(
            [("patient", ASCENDING), ("time", DESCENDING)], name="patient_time"
        )

    async def tip(self, chain: str) -> ChainTip | None:
        doc = await self._coll.find_one({"chain": chain}, sort=[("seq", DESCENDING)])
        return tip_of(doc) if doc else None

    async def seen(self, event_id: str) -> bool:
        return await self._coll.find_one({"event_id": event_id}, {"_id": 1}) is not None

    async def append(
        self, chain: str, event_id: str, body: dict[str, Any], index: dict[str, Any]
    ) -> bool:
        """Append once; False when this event is already in the log."""
        if await self.seen(event_id):
            return False
        record = next_record(chain, await self.tip(chain), event_id, body)
        record.update({"_id": record_key(chain, record["seq"]), **index})
        try:
            await self._coll.insert_one(record)
        except DuplicateKeyError:
            return False
        return True

    async def for_patient(self, cid: str, skip: int, limit: int) -> list[Document]:
        cursor = (
            self._coll.find({"patient": cid}, {"_id": 0, "body": 1})
            .sort("time", DESCENDING)
            .skip(skip)
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def chains(self) -> dict[str, list[Document]]:
        found: dict[str, list[Document]] = {}
        async for doc in self._coll.find({}).sort([("chain", ASCENDING), ("seq", ASCENDING)]):
            found.setdefault(doc["chain"], []).append(doc)
        return found
