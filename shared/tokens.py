"""Short-lived signed tokens (HMAC-SHA256 over a JSON claim set) and derived keys.

Tokens: ``base64url(claims).base64url(mac)``; a tampered, expired or wrong-audience
token raises ``Unauthorized``. ``derive`` makes a secret for one purpose from the
platform secret (notify's webhook signing key). Hospitals' credentials are not derived:
their admin keys are random and kept hashed (``shared/hospital_auth.py``), their upload
signing keys their own (``healthlink_adapter.signing``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from shared.errors import Unauthorized


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def issue(secret: str, audience: str, subject: str, ttl_s: int, **claims: Any) -> str:
    """A token for ``subject`` valid ``ttl_s`` seconds for ``audience``."""
    now = int(time.time())
    body = {"aud": audience, "sub": subject, "iat": now, "exp": now + ttl_s, **claims}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_mac(secret, payload)}"


def verify(secret: str, audience: str, token: str) -> dict[str, Any]:
    """The claims of a valid token, or ``Unauthorized``."""
    payload, _, mac = token.partition(".")
    if not payload or not mac or not hmac.compare_digest(mac, _mac(secret, payload)):
        raise Unauthorized("invalid token")
    try:
        claims: dict[str, Any] = json.loads(_unb64(payload))
    except ValueError as exc:
        raise Unauthorized("invalid token") from exc
    if claims.get("aud") != audience:
        raise Unauthorized("token not valid for this API")
    if int(claims.get("exp", 0)) < time.time():
        raise Unauthorized("token expired")
    return claims


def derive(secret: str, purpose: str, ident: str) -> str:
    """A per-hospital secret: HMAC(platform secret, purpose:ident), hex."""
    return hmac.new(secret.encode(), f"{purpose}:{ident}".encode(), hashlib.sha256).hexdigest()


PATIENT = "patient"
PHYSICIAN = "physician"
