"""Hospital systems' SMART Backend Services tokens (and the auth service's wallet and
patients' tokens) for in-process tests: a test issuer's
key signs them, and ``verifier()`` checks them as a service's ``app.state.token_verifier``
would check the auth service's (end-to-end tests get real ones from the auth service)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator
from typing import Any

import httpx

from services.auth.keys import SigningKeys, new_key
from shared.auth import TokenVerifier
from shared.wallet import SESSION_HEADER, wallet_claims

ISSUER, AUDIENCE = "http://auth.test", "http://fhir.test/fhir"
KEYS = SigningKeys([new_key()])
UPLOAD = "system/Bundle.c"


def verifier() -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=KEYS.public_jwks())


def _signed(client_id: str, sub: str, scope: str, ttl_s: int, **extra: str) -> str:
    """An access token as the auth service signs one, with a fresh ``jti``."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now + ttl_s,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "sub": sub,
        "client_id": client_id,
        "scope": scope,
        **extra,
    }
    return KEYS.sign(claims, "at+jwt")


def system_token(hospital: str | None, scope: str = UPLOAD, ttl_s: int = 300) -> str:
    """An access token of hospital ``hospital``'s system (``None``: no hospital claim)."""
    extra = {} if hospital is None else {"hospital": hospital}
    return _signed(f"hosp-{hospital}", f"hosp-{hospital}", scope, ttl_s, **extra)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


class SystemAuth(httpx.Auth):
    """``HttpUploader``'s ``auth``: hospital ``code``'s system token on every request."""

    def __init__(self, code: str, scope: str = UPLOAD) -> None:
        self.token = system_token(code, scope)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.headers["authorization"] = f"Bearer {self.token}"
        yield request


def wallet_token(ttl_s: int = 60, **overrides: Any) -> str:
    """The auth service's wallet token, as it signs it for consent's verification
    (``shared/wallet.py``); ``overrides`` change claims (``roles=[]``: not the wallet)."""
    claims = {**wallet_claims(ISSUER, AUDIENCE), **overrides}
    claims["exp"] = claims["iat"] + ttl_s
    return KEYS.sign(claims, "at+jwt")


def wallet(session: str = "0" * 32) -> dict[str, str]:
    """The headers of the auth service's wallet calling consent's verification."""
    return {**bearer(wallet_token()), SESSION_HEADER: session}


def patient_token(cid: str, ttl_s: int = 300) -> str:
    """A patient's own access token, as the auth service's wallet flow gives it."""
    scope = "openid fhirUser launch/patient patient/*.rs"
    return _signed(
        "wallet-app", f"Patient/{cid}", scope, ttl_s, patient=cid, fhirUser=f"Patient/{cid}"
    )
