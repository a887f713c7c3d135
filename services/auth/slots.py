"""Attempt slots: the lockout's counter that holds under concurrency on FerretDB too.

An attempt takes one of ``limit`` slots of a window by **inserting** its key
``<scope>:<who>:<window>:<n>`` (``n < limit``); a duplicate key means that slot is
taken, so however many requests race, at most ``limit`` inserts succeed per window
(a unique ``_id`` is enforced by PostgreSQL under FerretDB, unlike a conditional
update: docs/indexes.md). The slot is taken **before** the PIN or code is checked; a
success gives it back (deletes it), so only failures use a window up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.auth.domain import Window, slot_key
from shared.database import Document


class Attempts(Protocol):
    async def reserve(self, scope: str, who: str, window: Window, limit: int) -> int | None:
        """Take a free slot (its number) or None when all ``limit`` are taken."""
        ...

    async def release(self, scope: str, who: str, window: Window, n: int) -> None: ...
    async def taken(self, scope: str, who: str, window: Window) -> int: ...
    async def purge(self, before: datetime) -> int: ...


class MongoAttempts:
    """``attempts``: ``{_id: slot key, scope, who, window, n, ends}``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.attempts

    async def reserve(self, scope: str, who: str, window: Window, limit: int) -> int | None:
        held = {
            int(doc["n"])
            async for doc in self._coll.find(
                {"scope": scope, "who": who, "window": window.index}, {"n": 1}
            )
        }
        for n in range(limit):
            if n in held:
                continue
            doc = {
                "_id": slot_key(scope, who, window, n),
                "scope": scope,
                "who": who,
                "window": window.index,
                "n": n,
                "ends": window.ends,
            }
            try:
                await self._coll.insert_one(doc)
            except DuplicateKeyError:
                continue  # another request took this one meanwhile
            return n
        return None

    async def release(self, scope: str, who: str, window: Window, n: int) -> None:
        await self._coll.delete_one({"_id": slot_key(scope, who, window, n)})

    async def taken(self, scope: str, who: str, window: Window) -> int:
        query = {"scope": scope, "who": who, "window": window.index}
        return int(await self._coll.count_documents(query))

    async def purge(self, before: datetime) -> int:
        result = await self._coll.delete_many({"ends": {"$lt": before}})
        return int(result.deleted_count)


class MemoryAttempts:
    def __init__(self) -> None:
        self.slots: dict[str, datetime] = {}

    async def reserve(self, scope: str, who: str, window: Window, limit: int) -> int | None:
        for n in range(limit):
            key = slot_key(scope, who, window, n)
            if key not in self.slots:
                self.slots[key] = window.ends
                return n
        return None

    async def release(self, scope: str, who: str, window: Window, n: int) -> None:
        self.slots.pop(slot_key(scope, who, window, n), None)

    async def taken(self, scope: str, who: str, window: Window) -> int:
        prefix = slot_key(scope, who, window, 0)[:-1]
        return sum(1 for key in self.slots if key.startswith(prefix))

    async def purge(self, before: datetime) -> int:
        gone = [k for k, ends in self.slots.items() if ends < before]
        for key in gone:
            del self.slots[key]
        return len(gone)
