"""The face scan: the ``ScanVerifier`` port, and the consent service's verification.

Consent's ``POST /patients/{cid}/verify`` counts the FAQ's 5 attempts per CID and
Bangkok day and publishes the patient events. It answers only the auth service's
wallet (``shared/wallet.py``): this verifier sends a short-lived access token the auth
service signs for itself (``sub`` = ``client_id`` = ``healthlink-auth-wallet``,
``roles: ["wallet"]``, ``aud`` = the FHIR base) and the wallet session's id, so an
attempt is made only after the code sent to the patient's phone opened a session.
Consent no longer issues patient tokens: the auth service does, after this check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import httpx

from services.auth.errors import VerifierUnavailable
from shared.wallet import SESSION_HEADER

OK = "ok"
FAILED = "failed"
REFUSED = "refused"


class ScanVerifier(Protocol):
    async def verify(self, cid: str, scan: str, session: str) -> str:
        """``OK``, ``FAILED`` (counted) or ``REFUSED`` (the day's attempts are used up)."""
        ...


class ConsentScanVerifier:
    """Consent's verification, called with ``credential()``: a fresh wallet token."""

    def __init__(
        self,
        consent_url: str,
        credential: Callable[[], str],
        timeout_s: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = consent_url.rstrip("/")
        self.credential = credential
        # One client for the service's life (closed on stop): a client made per scan
        # built its TLS context each time, ~30 % of auth's CPU in a sign-in burst.
        self.http = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def close(self) -> None:
        await self.http.aclose()

    async def verify(self, cid: str, scan: str, session: str) -> str:
        headers = {SESSION_HEADER: session, "authorization": f"Bearer {self.credential()}"}
        try:
            response = await self.http.post(
                f"{self.url}/patients/{cid}/verify", json={"scan": scan}, headers=headers
            )
        except httpx.HTTPError as exc:
            raise VerifierUnavailable("identity verification is unavailable now") from exc
        if response.status_code == 200:
            return OK
        if response.status_code == 401 and "www-authenticate" not in response.headers:
            return FAILED  # the scan did not match (a refused credential says WWW-Authenticate)
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
