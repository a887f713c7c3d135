"""Webhook delivery to the wallet app: signed, retried with back-off, set aside at the end.

Shape: Standard Webhooks (https://www.standardwebhooks.com/): headers ``webhook-id`` (the
notification id), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
(``v1,`` + base64 HMAC-SHA256 over ``id.timestamp.body``) with a key derived from the
platform secret (``derive(token_secret, "webhook", "wallet")``).

One delivery document per notification, ``_id`` = notification id, so a notification
is queued once however often its event is redelivered. States::

    pending --claim--> sending --2xx/409--> delivered
                          |--5xx/408/429/network, attempts left--> pending (next_at = back-off)
                          |--other 4xx, or no attempts left-----> set-aside
    sending, lease expired (the sender crashed) --claim--> sending (same id, same body)

The body bytes are stored with the document, so a retry after a crash sends the same
id and the same bytes: a receiver that keeps the ids it has accepted (as Standard
Webhooks asks) accepts each notification exactly once, and may answer 409 to a repeat.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared import tokens
from shared.database import Document, insert_new
from shared.logging import get_logger

log = get_logger(__name__)
RETRYABLE = frozenset({408, 425, 429})


def webhook_key(token_secret: str) -> str:
    """The HMAC key shared with the wallet app, derived from the platform secret."""
    return tokens.derive(token_secret, "webhook", "wallet")


def sign(key: str, notification_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(key, id.timestamp.body)>``."""
    message = f"{notification_id}.{timestamp}.".encode() + body
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_valid(key: str, headers: httpx.Headers | dict[str, str], body: bytes) -> bool:
    """What a receiver checks (used by tests and documented for wallet apps)."""
    expected = sign(key, headers["webhook-id"], int(headers["webhook-timestamp"]), body)
    return any(hmac.compare_digest(expected, s) for s in headers["webhook-signature"].split())


def backoff(base_s: float, attempts: int) -> timedelta:
    """Exponential: base, 2*base, 4*base, ... after the 1st, 2nd, 3rd failed attempt."""
    return timedelta(seconds=base_s * 2 ** max(0, attempts - 1))


class Deliveries:
    """The delivery state of every notification bound for the webhook."""

    def __init__(self, db: AsyncDatabase[Document], clock: Callable[[], datetime]) -> None:
        self._coll = db.deliveries
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self._coll.create_index([("state", ASCENDING), ("next_at", ASCENDING)], name="due")

    def _pending(self, notification_id: str, payload: dict[str, Any]) -> Document:
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode()
        return {
            "_id": notification_id,
            "state": "pending",
            "body": body,
            "attempts": 0,
            "next_at": self._clock(),
            "lease_until": None,
        }

    async def enqueue(self, notification_id: str, payload: dict[str, Any]) -> bool:
        """Queue once; False when this notification was queued before."""
        try:
            await self._coll.insert_one(self._pending(notification_id, payload))
        except DuplicateKeyError:
            return False
        return True

    async def enqueue_many(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Queue several (id, payload) at once; ids queued before are left as they are."""
        await insert_new(self._coll, [self._pending(nid, payload) for nid, payload in items])

    async def claim(self, lease: timedelta) -> Document | None:
        """Take one due delivery (or one whose sender crashed) for ``lease``."""
        now = self._clock()
        due = {
            "$or": [
                {"state": "pending", "next_at": {"$lte": now}},
                {"state": "sending", "lease_until": {"$lte": now}},
            ]
        }
        return await self._coll.find_one_and_update(
            due,
            {"$set": {"state": "sending", "lease_until": now + lease}, "$inc": {"attempts": 1}},
            sort=[("next_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )

    async def finish(self, notification_id: str, state: str, **fields: Any) -> None:
        await self._coll.update_one(
            {"_id": notification_id, "state": "sending"},
            {"$set": {"state": state, "lease_until": None, **fields}},
        )

    async def get(self, notification_id: str) -> Document | None:
        return await self._coll.find_one({"_id": notification_id})

    async def set_aside(self, skip: int, limit: int) -> list[Document]:
        cursor = self._coll.find({"state": "set-aside"}, {"body": 0}).skip(skip).limit(limit)
        return [d async for d in cursor]

    async def retry(self, notification_id: str) -> bool:
        """An operator sends a set-aside notification again (fresh attempts)."""
        result = await self._coll.update_one(
            {"_id": notification_id, "state": "set-aside"},
            {"$set": {"state": "pending", "attempts": 0, "next_at": self._clock()}},
        )
        return result.modified_count == 1


class Sender:
    """Delivers due notifications one by one to the configured webhook URL."""

    def __init__(
        self,
        deliveries: Deliveries,
        http: httpx.AsyncClient,
        url: str,
        key: str,
        max_attempts: int,
        backoff_s: float,
        timeout_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.deliveries = deliveries
        self._http, self._url, self._key = http, url, key
        self._max_attempts, self._backoff_s, self._timeout_s = max_attempts, backoff_s, timeout_s
        self._clock = clock

    async def send_due(self, limit: int = 50) -> int:
        """Attempt up to ``limit`` due deliveries; how many were attempted."""
        done = 0
        lease = timedelta(seconds=self._timeout_s * 2)
        while done < limit and (doc := await self.deliveries.claim(lease)) is not None:
            await self._attempt(doc)
            done += 1
        return done

    async def _attempt(self, doc: Document) -> None:
        notification_id, body = str(doc["_id"]), bytes(doc["body"])
        timestamp = int(self._clock().timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": notification_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._key, notification_id, timestamp, body),
        }
        try:
            r = await self._http.post(
                self._url, content=body, headers=headers, timeout=self._timeout_s
            )
            status, error = r.status_code, f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            status, error = 0, type(exc).__name__
        if 200 <= status < 300 or status == 409:
            await self.deliveries.finish(notification_id, "delivered", delivered_at=self._clock())
            return
        attempts = int(doc["attempts"])
        retryable = status == 0 or status >= 500 or status in RETRYABLE
        if retryable and attempts < self._max_attempts:
            next_at = self._clock() + backoff(self._backoff_s, attempts)
            await self.deliveries.finish(
                notification_id, "pending", next_at=next_at, last_error=error
            )
            return
        log.warning("webhook delivery set aside", notification=notification_id, error=error)
        await self.deliveries.finish(notification_id, "set-aside", last_error=error)
