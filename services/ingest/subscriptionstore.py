"""Where hospitals' data-request subscriptions are kept (``subscriptions``): the port,
MongoDB (FerretDB) and an in-memory fake.

One document per hospital (``_id`` = its code: a hospital has at most one subscription),
so every query is by ``_id`` (``indexes.py``). ``add`` refuses a second one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol, cast

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.ingest.subscriptions import Content, Subscription
from shared.database import Document


class Subscriptions(Protocol):
    """Hospitals' subscriptions."""

    async def add(self, subscription: Subscription) -> bool:
        """Keep it; False if the hospital already has one."""
        ...

    async def of(self, hospital: str) -> Subscription | None: ...

    async def remove(self, hospital: str, subscription_id: str) -> bool:
        """Delete the hospital's subscription ``subscription_id``; False if it had none."""
        ...


def to_doc(s: Subscription) -> Document:
    return {
        "_id": s.hospital,
        "id": s.id,
        "endpoint": s.endpoint,
        "content": s.content,
        "start": s.start,
        "headers": list(s.headers),
        "status": s.status,
        "reason": s.reason,
    }


def from_doc(doc: Document) -> Subscription:
    start: datetime = doc["start"]  # naive UTC from a client without tz_aware
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    return Subscription(
        id=str(doc["id"]),
        hospital=str(doc["_id"]),
        endpoint=str(doc["endpoint"]),
        content=cast(Content, doc["content"]),
        start=start,
        headers=tuple(doc.get("headers", [])),
        status=str(doc.get("status", "active")),
        reason=str(doc.get("reason", "")),
    )


class MongoSubscriptions:
    """``subscriptions`` on MongoDB (FerretDB)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._subscriptions = db.subscriptions

    async def add(self, subscription: Subscription) -> bool:
        try:
            await self._subscriptions.insert_one(to_doc(subscription))
        except DuplicateKeyError:
            return False
        return True

    async def of(self, hospital: str) -> Subscription | None:
        doc = await self._subscriptions.find_one({"_id": hospital})
        return from_doc(doc) if doc is not None else None

    async def remove(self, hospital: str, subscription_id: str) -> bool:
        gone = await self._subscriptions.delete_one({"_id": hospital, "id": subscription_id})
        return gone.deleted_count == 1


class MemorySubscriptions:
    """The fake: a dict by hospital code."""

    def __init__(self) -> None:
        self.kept: dict[str, Any] = {}

    async def add(self, subscription: Subscription) -> bool:
        if subscription.hospital in self.kept:
            return False
        self.kept[subscription.hospital] = to_doc(subscription)
        return True

    async def of(self, hospital: str) -> Subscription | None:
        doc = self.kept.get(hospital)
        return from_doc(doc) if doc is not None else None

    async def remove(self, hospital: str, subscription_id: str) -> bool:
        doc = self.kept.get(hospital)
        if doc is None or doc["id"] != subscription_id:
            return False
        del self.kept[hospital]
        return True
