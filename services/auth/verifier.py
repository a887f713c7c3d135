"""The face scan: the ``ScanVerifier`` port, and the consent service's verification.

Phase 1 calls consent's existing ``POST /patients/{cid}/verify`` (it counts the
FAQ's 5 attempts per CID and Bangkok day and publishes the patient events). Phase 2
(docs/auth.md): consent accepts the attempt only with the auth service's backend
token and the wallet session's id, counts attempts within such sessions, and stops
issuing tokens itself.
"""

from __future__ import annotations

from typing import Protocol

import httpx

from services.auth.errors import VerifierUnavailable

OK = "ok"
FAILED = "failed"
REFUSED = "refused"


class ScanVerifier(Protocol):
    async def verify(self, cid: str, scan: str, session: str) -> str:
        """``OK``, ``FAILED`` (counted) or ``REFUSED`` (the day's attempts are used up)."""
        ...


class ConsentScanVerifier:
    def __init__(self, consent_url: str, timeout_s: float = 15.0) -> None:
        self.url = consent_url.rstrip("/")
        self.timeout_s = timeout_s

    async def verify(self, cid: str, scan: str, session: str) -> str:
        headers = {"hl-wallet-session": session}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as http:
                response = await http.post(
                    f"{self.url}/patients/{cid}/verify", json={"scan": scan}, headers=headers
                )
        except httpx.HTTPError as exc:
            raise VerifierUnavailable("identity verification is unavailable now") from exc
        if response.status_code == 200:
            return OK
        if response.status_code == 401:
            return FAILED
        if response.status_code == 429:
            return REFUSED
        raise VerifierUnavailable(f"identity verification answered {response.status_code}")


class FixedScanVerifier:
    """The fake: ``good`` passes; after ``limit`` failures per CID everything is refused."""

    def __init__(self, good: str = "dev-face-scan-ok", limit: int = 5) -> None:
        self.good = good
        self.limit = limit
        self.failures: dict[str, int] = {}
        self.sessions: list[str] = []

    async def verify(self, cid: str, scan: str, session: str) -> str:
        self.sessions.append(session)
        if self.failures.get(cid, 0) >= self.limit:
            return REFUSED
        if scan == self.good:
            return OK
        self.failures[cid] = self.failures.get(cid, 0) + 1
        return FAILED
