"""The webhook's queue: the ``Deliveries`` port (``repository.py``) on MongoDB, and its
in-memory fake.

One delivery document per notification, ``_id`` = notification id, so a notification
is queued once however often its event is redelivered. States::

    pending --claim--> sending --2xx/409--> delivered
                          |--5xx/408/429/network, attempts left--> pending (next_at = back-off)
                          |--other 4xx, or no attempts left-----> set-aside
    sending, lease expired (the sender crashed) --claim--> sending (same id, same body)

The body bytes are stored with the document, so a retry after a crash sends the same
bytes. ``webhook.Sender`` moves deliveries through these states.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from shared.database import Document, insert_new


def pending(notification_id: str, payload: dict[str, Any], now: datetime) -> Document:
    """A new delivery, due at once; the body is the payload's JSON, bytes fixed now."""
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode()
    return {
        "_id": notification_id,
        "state": "pending",
        "body": body,
        "attempts": 0,
        "next_at": now,
        "lease_until": None,
    }


class MongoDeliveries:
    """``deliveries``: the delivery state of every notification bound for the webhook."""

    def __init__(self, db: AsyncDatabase[Document], clock: Callable[[], datetime]) -> None:
        self._coll = db.deliveries
        self._clock = clock

    async def enqueue_many(self, items: list[tuple[str, dict[str, Any]]]) -> list[str]:
        now = self._clock()
        held = await insert_new(self._coll, [pending(nid, payload, now) for nid, payload in items])
        return [nid for index, (nid, _) in enumerate(items) if index not in held]

    async def claim(self, lease: timedelta) -> Document | None:
        """A delivery whose sender crashed (lease over) first, else the earliest due.

        Two claims rather than one ``$or``: FerretDB 1.24 pushes an ``$or`` down not at
        all, and ``{"state": ...}`` is served by an index (``indexes.py``)."""
        now = self._clock()
        take = {"$set": {"state": "sending", "lease_until": now + lease}, "$inc": {"attempts": 1}}
        for due in (
            {"state": "sending", "lease_until": {"$lte": now}},
            {"state": "pending", "next_at": {"$lte": now}},
        ):
            claimed = await self._coll.find_one_and_update(
                due, take, sort=[("next_at", ASCENDING)], return_document=ReturnDocument.AFTER
            )
            if claimed is not None:
                return claimed
        return None

    async def finish(self, notification_id: str, state: str, **fields: Any) -> None:
        await self._coll.update_one(
            {"_id": notification_id, "state": "sending"},
            {"$set": {"state": state, "lease_until": None, **fields}},
        )

    async def set_aside(self, skip: int, limit: int) -> list[Document]:
        cursor = self._coll.find({"state": "set-aside"}, {"body": 0}).skip(skip).limit(limit)
        return [d async for d in cursor]

    async def retry(self, notification_id: str) -> bool:
        result = await self._coll.update_one(
            {"_id": notification_id, "state": "set-aside"},
            {"$set": {"state": "pending", "attempts": 0, "next_at": self._clock()}},
        )
        return result.modified_count == 1


class MemoryDeliveries:
    """The same states and rules over a dict."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.docs: dict[str, Document] = {}
        self._clock = clock

    async def enqueue_many(self, items: list[tuple[str, dict[str, Any]]]) -> list[str]:
        new = []
        for nid, payload in items:
            if nid not in self.docs:
                self.docs[nid] = pending(nid, payload, self._clock())
                new.append(nid)
        return new

    def _due(self, doc: Document, now: datetime) -> bool:
        if doc["state"] == "pending":
            return bool(doc["next_at"] <= now)
        return bool(doc["state"] == "sending" and doc["lease_until"] <= now)

    async def claim(self, lease: timedelta) -> Document | None:
        now = self._clock()
        due = [d for d in self.docs.values() if self._due(d, now)]
        due.sort(key=lambda d: (d["state"] != "sending", d["next_at"]))
        if not due:
            return None
        due[0].update(state="sending", lease_until=now + lease, attempts=due[0]["attempts"] + 1)
        return copy.deepcopy(due[0])

    async def finish(self, notification_id: str, state: str, **fields: Any) -> None:
        doc = self.docs.get(notification_id)
        if doc is not None and doc["state"] == "sending":
            doc.update(state=state, lease_until=None, **fields)

    async def set_aside(self, skip: int, limit: int) -> list[Document]:
        aside = [d for d in self.docs.values() if d["state"] == "set-aside"]
        return [{k: v for k, v in d.items() if k != "body"} for d in aside[skip : skip + limit]]

    async def retry(self, notification_id: str) -> bool:
        doc = self.docs.get(notification_id)
        if doc is None or doc["state"] != "set-aside":
            return False
        doc.update(state="pending", attempts=0, next_at=self._clock())
        return True
