"""The auth service's side of consent's verification (issue 12): ``ConsentScanVerifier``
sends the wallet's own token and the device session, and tells a scan that did not match
(counted) from a refused credential (a 503 here, never a failed scan)."""

from __future__ import annotations

import httpx
import pytest

from services.auth.app import wallet_token
from services.auth.errors import VerifierUnavailable
from services.auth.keys import SigningKeys
from services.auth.verifier import FAILED, OK, REFUSED, ConsentScanVerifier
from shared.auth import TokenVerifier
from shared.wallet import SESSION_HEADER, WALLET_CLIENT, WALLET_ROLE
from tests.support.auth import auth_settings

pytestmark = pytest.mark.unit
SESSION = "a" * 32
CID = "1101700230708"


def outcome(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    issue = {"severity": "error", "code": "processing", "diagnostics": "x"}
    body = {"resourceType": "OperationOutcome", "issue": [issue]}
    return httpx.Response(status, json=body, headers=headers)


async def test_the_wallet_token_and_session_reach_consent_and_answers_are_told_apart() -> None:
    settings = auth_settings()
    keys = SigningKeys.from_settings(settings)
    seen: list[httpx.Request] = []
    answers = iter(
        [
            httpx.Response(200, json={"cid": CID, "verified_at": "2026-05-28T00:00:00+00:00"}),
            outcome(401),
            outcome(429),
            outcome(401, {"www-authenticate": "Bearer"}),
            outcome(403),
        ]
    )

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    verifier = ConsentScanVerifier(
        "http://consent.test/",
        lambda: wallet_token(settings, keys),
        transport=httpx.MockTransport(answer),
    )
    assert await verifier.verify(CID, "scan", SESSION) == OK
    assert await verifier.verify(CID, "scan", SESSION) == FAILED
    assert await verifier.verify(CID, "scan", SESSION) == REFUSED
    for _ in range(2):  # the credential refused: not the patient's failure
        with pytest.raises(VerifierUnavailable):
            await verifier.verify(CID, "scan", SESSION)
    request = seen[0]
    assert request.url == f"http://consent.test/patients/{CID}/verify"
    assert request.headers[SESSION_HEADER] == SESSION
    check = TokenVerifier(
        issuer=settings.auth_issuer, audience=settings.auth_audience, jwks=keys.public_jwks()
    )
    principal = await check.verify(request.headers["authorization"].removeprefix("Bearer "))
    assert principal.client_id == WALLET_CLIENT and principal.roles == (WALLET_ROLE,)
    assert principal.patient is None and principal.expires_at - principal.claims["iat"] == 60
    tokens = {r.headers["authorization"] for r in seen}
    assert len(tokens) == len(seen), "a fresh token (its own jti) for every attempt"
