"""The keys the auth service signs with (joserfc), and the set it publishes.

``HEALTHLINK_AUTH_SIGNING_KEYS`` holds a private JWK set (from a Secret in
production): the **first** key signs, every key is published in the JWKS, so a key is
rotated by putting a new one first and dropping the old one after the longest token
lifetime (docs/auth.md). In development, with no set given, one P-256 key is derived
from the development secret, so restarts keep verifying earlier tokens; production
refuses that (``AuthSettings``). Key ids are RFC 7638 thumbprints unless given.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from services.auth.settings import AuthSettings

ALG = "ES256"
# The order of P-256's group (SEC 2): a private scalar lies in [1, N - 1].
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def derived_key(secret: str) -> ECKey:
    """A P-256 key derived from ``secret`` (development only)."""
    seed = hmac.new(secret.encode(), b"healthlink-auth-signing-key", hashlib.sha256).digest()
    scalar = int.from_bytes(seed, "big") % (P256_ORDER - 1) + 1
    private = ec.derive_private_key(scalar, ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = ECKey.import_key(pem)
    return ECKey.import_key(key.as_dict(private=True), {"kid": key.thumbprint(), "use": "sig"})


def new_key() -> ECKey:
    key = ECKey.generate_key("P-256", private=True)
    return ECKey.import_key(key.as_dict(private=True), {"kid": key.thumbprint(), "use": "sig"})


class SigningKeys:
    """The first key signs; all are published."""

    def __init__(self, keys: list[ECKey]) -> None:
        if not keys:
            raise ValueError("no signing key")
        for key in keys:
            if key.kid is None or key.as_dict(private=True).get("d") is None:
                raise ValueError("every signing key needs a kid and its private part")
        self.keys = keys

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> SigningKeys:
        if not settings.auth_signing_keys:
            return cls([derived_key(settings.token_secret)])
        data = json.loads(settings.auth_signing_keys)
        keys = []
        for entry in data.get("keys", []):
            key = ECKey.import_key(entry)
            kid = entry.get("kid") or key.thumbprint()
            keys.append(ECKey.import_key(key.as_dict(private=True), {"kid": kid, "use": "sig"}))
        return cls(keys)

    @property
    def signer(self) -> ECKey:
        return self.keys[0]

    @property
    def signing_set(self) -> KeySet:
        """Only the signing key: joserfc then writes its ``kid`` in the header."""
        return KeySet([self.signer])

    def public_jwks(self) -> dict[str, Any]:
        published = []
        for key in self.keys:
            entry = key.as_dict(private=False)
            entry.update(kid=str(key.kid), use="sig", alg=ALG)
            published.append(entry)
        return {"keys": published}

    def sign(self, claims: dict[str, Any], typ: str = "JWT") -> str:
        return jwt.encode({"alg": ALG, "typ": typ}, claims, self.signing_set)
