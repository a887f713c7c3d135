"""Patients' inboxes: one document per notification, keyed by notification id."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.database import Document, insert_new


class Inbox:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.inbox

    async def ensure_indexes(self) -> None:
        await self._coll.create_index(
            [("patient", ASCENDING), ("created_at", DESCENDING)], name="patient_created"
        )

    async def put_many(self, items: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Store several (id, patient, entry) at once; ids already held are left as they are."""
        docs = [{"_id": nid, "patient": patient, "read": False, **entry}
                for nid, patient, entry in items]  # fmt: skip
        await insert_new(self._coll, docs)

    async def page(self, patient: str, skip: int, limit: int) -> list[Document]:
        cursor = (
            self._coll.find({"patient": patient})
            .sort("created_at", DESCENDING)
            .skip(skip)
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def mark_read(self, patient: str, notification_id: str) -> bool:
        result = await self._coll.update_one(
            {"_id": notification_id, "patient": patient}, {"$set": {"read": True}}
        )
        return result.matched_count == 1
