"""Failed sign-ins and the lockout they lead to: the port, its MongoDB implementation and
the in-memory fake.

``sign_in_failures`` (key licence): failures counted with an atomic ``$inc``;
``max_failures`` within ``window_s`` lock the licence for ``lockout_s``; a success
clears the count. In the database, so instances share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from shared.database import Document


@dataclass(frozen=True)
class Failure:
    count: int  # failures so far
    locked_now: bool  # this one locked the licence


class SignInFailures(Protocol):
    """``locked_until``: when the licence's lockout ends, or None (stale counts are
    forgotten); ``failed`` counts one and locks the licence when it reaches the limit."""

    async def locked_until(self, licence: str, now: datetime) -> datetime | None: ...
    async def failed(self, licence: str, now: datetime) -> Failure: ...
    async def succeeded(self, licence: str) -> None: ...


def lockout_of(doc: Document, now: datetime, window: timedelta) -> tuple[datetime | None, bool]:
    """A licence's failure count read at ``now``: when its lockout ends (None when it is
    not locked out), and whether the count is stale (a lockout that ended, or a first
    failure older than ``window``) and is to be forgotten."""
    until: datetime | None = doc.get("locked_until")
    if until is not None and until > now:
        return until, False
    return None, until is not None or doc["first"] + window <= now


class MongoSignInFailures:
    def __init__(
        self, db: AsyncDatabase[Document], max_failures: int, window_s: int, lockout_s: int
    ) -> None:
        self._coll = db.sign_in_failures
        self._max = max_failures
        self._window = timedelta(seconds=window_s)
        self._lockout = timedelta(seconds=lockout_s)

    async def locked_until(self, licence: str, now: datetime) -> datetime | None:
        doc = await self._coll.find_one({"_id": licence})
        if doc is None:
            return None
        until, stale = lockout_of(doc, now, self._window)
        if stale:
            await self._coll.delete_one({"_id": licence, "first": doc["first"]})
        return until

    async def failed(self, licence: str, now: datetime) -> Failure:
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


class MemorySignInFailures:
    def __init__(self, max_failures: int, window_s: int, lockout_s: int) -> None:
        self.counts: dict[str, Document] = {}
        self._max = max_failures
        self._window = timedelta(seconds=window_s)
        self._lockout = timedelta(seconds=lockout_s)

    async def locked_until(self, licence: str, now: datetime) -> datetime | None:
        doc = self.counts.get(licence)
        if doc is None:
            return None
        until, stale = lockout_of(doc, now, self._window)
        if stale:
            del self.counts[licence]
        return until

    async def failed(self, licence: str, now: datetime) -> Failure:
        doc = self.counts.setdefault(licence, {"count": 0, "first": now})
        doc["count"] += 1
        if doc["count"] < self._max:
            return Failure(doc["count"], False)
        locked_now = "locked_until" not in doc
        doc.setdefault("locked_until", now + self._lockout)
        return Failure(doc["count"], locked_now)

    async def succeeded(self, licence: str) -> None:
        self.counts.pop(licence, None)
