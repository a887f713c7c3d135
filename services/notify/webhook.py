"""Webhook delivery to the wallet app (an adapter: httpx): signed, retried with back-off,
set aside at the end.

Shape: Standard Webhooks (https://www.standardwebhooks.com/): headers ``webhook-id`` (the
notification id), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
(``v1,`` + base64 HMAC-SHA256 over ``id.timestamp.body``) with a key derived from the
platform secret (``derive(token_secret, "webhook", "wallet")``).

The queue and its states are in ``deliveries.py``. A retry after a crash sends the
same id and the same bytes: a receiver that keeps the ids it has accepted (as Standard
Webhooks asks) accepts each notification exactly once, and may answer 409 to a repeat.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

import httpx

from services.notify.repository import Deliveries
from shared import tokens
from shared.database import Document
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


def outcome(
    status: int, attempts: int, max_attempts: int
) -> Literal["delivered", "pending", "set-aside"]:
    """Where a delivery goes after an attempt answered ``status`` (0: no answer)."""
    if 200 <= status < 300 or status == 409:
        return "delivered"
    retryable = status == 0 or status >= 500 or status in RETRYABLE
    return "pending" if retryable and attempts < max_attempts else "set-aside"


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
        attempts = int(doc["attempts"])
        state = outcome(status, attempts, self._max_attempts)
        if state == "delivered":
            await self.deliveries.finish(notification_id, "delivered", delivered_at=self._clock())
            return
        if state == "pending":
            next_at = self._clock() + backoff(self._backoff_s, attempts)
            await self.deliveries.finish(
                notification_id, "pending", next_at=next_at, last_error=error
            )
            return
        log.warning("webhook delivery set aside", notification=notification_id, error=error)
        await self.deliveries.finish(notification_id, "set-aside", last_error=error)
