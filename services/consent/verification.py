"""Identity verification: the verifier interface, its two implementations, the daily limit.

The real face-scan provider is external. ``Verifier`` is the seam:
``DevVerifier`` is deterministic (development and tests only), ``HttpVerifier``
calls a provider over HTTP (``HEALTHLINK_VERIFIER_URL``). The limit of
``MAX_ATTEMPTS`` failed attempts per Bangkok calendar day is counted by the
repository with one atomic, conditional ``$inc`` (see ``repository.py``).
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Protocol

import httpx

from services.consent.domain import bangkok_today
from shared.errors import Transient

MAX_ATTEMPTS = 5
DEV_SCAN_OK = "dev-face-scan-ok"


def attempt_day(now: datetime) -> str:
    """The counter's day: the Bangkok calendar date (resets at Bangkok midnight)."""
    return bangkok_today(now).isoformat()


class Verifier(Protocol):
    async def verify(self, cid: str, scan: str) -> bool:
        """True when ``scan`` shows the holder of ``cid``."""
        ...


class DevVerifier:
    """Deterministic: the scan ``dev-face-scan-ok`` matches anyone, anything else fails."""

    async def verify(self, cid: str, scan: str) -> bool:
        return hmac.compare_digest(scan.encode(), DEV_SCAN_OK.encode())


class HttpVerifier:
    """POSTs ``{"cid", "scan"}`` to the provider; expects ``{"match": bool}``."""

    def __init__(
        self, url: str, timeout_s: float = 10.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._url = url
        # kept for the service's life: a client per check built its TLS context each time
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    async def verify(self, cid: str, scan: str) -> bool:
        try:
            response = await self._http.post(self._url, json={"cid": cid, "scan": scan})
        except httpx.HTTPError as exc:
            raise Transient("identity verifier unavailable") from exc
        if response.status_code >= 500:
            raise Transient("identity verifier unavailable")
        if response.status_code >= 400:
            return False
        try:
            return response.json().get("match") is True
        except ValueError as exc:
            raise Transient("identity verifier gave an unreadable answer") from exc


def make_verifier(url: str | None, timeout_s: float) -> Verifier:
    return HttpVerifier(url, timeout_s) if url else DevVerifier()
