"""Failed sign-ins per licence, counted in one document with an atomic ``$inc``.

After ``max_failures`` failures within ``window_s`` the licence is locked for
``lockout_s``; a successful sign-in clears the count. Several query instances
share the count because it lives in the database, not in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from shared.database import Document


@dataclass(frozen=True)
class Failure:
    count: int
    locked_now: bool


class SignInFailures:
    def __init__(
        self, db: AsyncDatabase[Document], max_failures: int, window_s: int, lockout_s: int
    ) -> None:
        self._coll = db.sign_in_failures
        self._max = max_failures
        self._window = timedelta(seconds=window_s)
        self._lockout = timedelta(seconds=lockout_s)

    async def locked_until(self, licence: str, now: datetime) -> datetime | None:
        """When the lockout of ``licence`` ends, or None; forgets stale counts."""
        doc = await self._coll.find_one({"_id": licence})
        if doc is None:
            return None
        until: datetime | None = doc.get("locked_until")
        if until is not None and until > now:
            return until
        if until is not None or doc["first"] + self._window <= now:
            await self._coll.delete_one({"_id": licence, "first": doc["first"]})
        return None

    async def failed(self, licence: str, now: datetime) -> Failure:
        """Count one failure; lock the licence when this one reaches the limit."""
        doc = await self._coll.find_one_and_update(
            {"_id": licence},
            {"$inc": {"count": 1}, "$setOnInsert": {"first": now}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        count = int(doc["count"]) if doc else 1
        if count < self._max:
            return Failure(count, False)
        result = await self._coll.update_one(
            {"_id": licence, "locked_until": {"$exists": False}},
            {"$set": {"locked_until": now + self._lockout}},
        )
        return Failure(count, result.modified_count == 1)

    async def succeeded(self, licence: str) -> None:
        await self._coll.delete_one({"_id": licence})
