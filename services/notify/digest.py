"""Patients' preferences, and the hourly digest of accesses for those who chose it.

An access notification for a patient who prefers ``hourly`` is parked as a digest item
(``_id`` = the notification id it would have had, so a redelivery parks it once) in the
bucket of the hour it arrived. When an hour is over, its items become one digest:

1. the digest id is derived from the set of unclaimed items (a late item makes a new set);
2. the items are claimed for that id, then the digest is notified, then marked done.

A crash after 2 leaves claimed, unfinished items: the next flush notifies the same id
again (the inbox and the webhook queue ignore a repeat) and marks them done.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.database import Document

Preference = Literal["immediate", "hourly"]


def hour_bucket(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H")


def bucket_end(bucket: str) -> datetime:
    return datetime.strptime(bucket, "%Y-%m-%dT%H").replace(tzinfo=UTC) + timedelta(hours=1)


class Preferences:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.preferences

    async def get(self, cid: str) -> Preference:
        doc = await self._coll.find_one({"_id": cid})
        return "hourly" if doc and doc.get("accesses") == "hourly" else "immediate"

    async def put(self, cid: str, accesses: Preference) -> None:
        await self._coll.update_one({"_id": cid}, {"$set": {"accesses": accesses}}, upsert=True)


class Digests:
    def __init__(self, db: AsyncDatabase[Document], clock: Callable[[], datetime]) -> None:
        self._coll = db.digest_items
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self._coll.create_index(
            [("digest", ASCENDING), ("bucket", ASCENDING)], name="digest_bucket"
        )

    async def park(self, item_id: str, patient: str, item: dict[str, Any]) -> None:
        """Keep an access for the patient's next digest (once per item id)."""
        await self._coll.update_one(
            {"_id": item_id},
            {
                "$setOnInsert": {
                    "patient": patient,
                    "bucket": hour_bucket(self._clock()),
                    "digest": None,
                    "done": False,
                    "item": item,
                }
            },
            upsert=True,
        )

    async def claim_due(self) -> list[str]:
        """Claim the unclaimed items of every finished hour; the digest ids to notify."""
        now = self._clock()
        groups: dict[tuple[str, str], list[str]] = {}
        async for doc in self._coll.find({"digest": None}, {"patient": 1, "bucket": 1}):
            if bucket_end(doc["bucket"]) <= now:
                groups.setdefault((doc["patient"], doc["bucket"]), []).append(doc["_id"])
        for (patient, bucket), ids in groups.items():
            digest_id = (
                f"digest-{patient}-{bucket}-"
                + hashlib.sha256("|".join(sorted(ids)).encode()).hexdigest()[:12]
            )
            await self._coll.update_many(
                {"_id": {"$in": ids}, "digest": None}, {"$set": {"digest": digest_id}}
            )
        return await self.unfinished()

    async def unfinished(self) -> list[str]:
        ids = await self._coll.distinct("digest", {"done": False, "digest": {"$ne": None}})
        return sorted(str(i) for i in ids)

    async def items(self, digest_id: str) -> list[Document]:
        cursor = self._coll.find({"digest": digest_id}).sort("_id", ASCENDING)
        return [d async for d in cursor]

    async def finish(self, digest_id: str) -> None:
        await self._coll.update_many({"digest": digest_id}, {"$set": {"done": True}})
