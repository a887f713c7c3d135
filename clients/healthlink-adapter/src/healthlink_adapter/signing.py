"""Upload signatures: what a hospital puts in ``hl-signature`` and how the platform checks it.

An upload is signed with the hospital's **own private key**: ``hl-signature`` holds a
detached JWS (RFC 7515, appendix F) over the exact body bytes, in compact form with
the payload left out (``<protected header>..<signature>``), ES256, the key's ``kid``
in the protected header. The platform holds only public keys, a JWK set per hospital
(several at once, each with its ``kid``): a key is rotated by registering a new one and
revoked by removing it, from the next upload on.

    signer = JwsSigner.from_file("hospital-10670.jwk")  # a private JWK, kept by the hospital
    async with KafkaUploader(login, "10670", signer) as uploader: ...

``new_key`` makes a key pair, ``public_jwk`` is what a hospital registers. The
platform checks with ``verify_detached``; a refusal says why (``SignatureRefused``).
Uploaders take any ``Signer``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

ALGORITHM = "ES256"  # the JWS algorithm of upload signatures (P-256 keys)
CURVE = "P-256"
MAX_SIGNATURE_CHARS = 2048  # a compact detached ES256 JWS is ~130 characters
PUBLIC_MEMBERS = ("kty", "crv", "x", "y", "kid", "alg", "use")

Reason = Literal["no-signing-key", "unknown-key", "bad-signature"]


class Signer(Protocol):
    """Makes the ``hl-signature`` value for an upload body."""

    def sign(self, body: bytes) -> str: ...


class SignatureRefused(Exception):
    """Why a signature is not the hospital's: ``reason`` is a short code, the message
    says it in words (never the signature itself)."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason


def new_key(kid: str | None = None) -> ECKey:
    """A new P-256 private key; its ``kid`` is given, or its RFC 7638 thumbprint (never one
    that begins with ``-``, which a command line would read as an option: drawn again)."""
    generated = ECKey.generate_key(CURVE, private=True)
    while kid is None and generated.thumbprint().startswith("-"):
        generated = ECKey.generate_key(CURVE, private=True)
    return ECKey.import_key(generated.as_dict(private=True), {"kid": kid or generated.thumbprint()})


def public_jwk(key: ECKey) -> dict[str, Any]:
    """What a hospital registers with the platform: the key's public half."""
    return key.as_dict(private=False) | {"kid": key.kid, "alg": ALGORITHM, "use": "sig"}


class JwsSigner:
    """Signs upload bodies with the hospital's private P-256 key (detached JWS, ES256)."""

    def __init__(self, key: ECKey | Mapping[str, Any]) -> None:
        loaded = key if isinstance(key, ECKey) else ECKey.import_key(dict(key))
        if not loaded.is_private:
            raise ValueError("a private key is required to sign uploads")
        if not loaded.kid:
            raise ValueError("the signing key needs a kid (the platform finds it by kid)")
        self.key = loaded
        self.kid = str(loaded.kid)
        self._header = {"alg": ALGORITHM, "kid": self.kid}

    @classmethod
    def from_file(cls, path: str | Path) -> JwsSigner:
        """The private JWK kept in ``path`` (as ``healthlink hospitals keygen`` writes it)."""
        return cls(json.loads(Path(path).read_text()))

    def sign(self, body: bytes) -> str:
        compact = jws.serialize_compact(self._header, body, self.key)
        detached: str = jws.detach_content(compact)
        return detached


def check_public_jwk(jwk: Mapping[str, Any]) -> dict[str, Any]:
    """A registrable public key: EC P-256 with a ``kid``, no private part; ``ValueError``
    says what is wrong. Returns the key's public members only."""
    if "d" in jwk:
        raise ValueError("this is a private key: register the public half only")
    if jwk.get("kty") != "EC" or jwk.get("crv") != CURVE:
        raise ValueError(f"an EC {CURVE} key (kty EC, crv {CURVE}) is required")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not 1 <= len(kid) <= 64 or not kid.isascii():
        raise ValueError("the key needs a kid of 1-64 ASCII characters")
    if jwk.get("alg", ALGORITHM) != ALGORITHM:
        raise ValueError(f"upload keys sign with {ALGORITHM}")
    public = {k: jwk[k] for k in PUBLIC_MEMBERS if k in jwk}
    try:
        ECKey.import_key(public)
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"not a valid public key: {type(exc).__name__}") from exc
    return public


def _kid_of(signature: str) -> str:
    """The ``kid`` of a detached compact JWS's protected header (not yet verified)."""
    header, payload, _ = signature.split(".")
    if not header or payload:
        raise SignatureRefused("bad-signature", "the signature is not a detached JWS")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise SignatureRefused("bad-signature", "the JWS header is not readable") from exc
    if not isinstance(decoded, dict) or not isinstance(decoded.get("kid"), str):
        raise SignatureRefused("bad-signature", "the JWS header names no kid")
    if decoded.get("alg") != ALGORITHM:
        raise SignatureRefused("bad-signature", f"upload signatures use {ALGORITHM}")
    return str(decoded["kid"])


def verify_detached(keys: Iterable[Mapping[str, Any]], body: bytes, signature: object) -> str:
    """The ``kid`` of the hospital key that made ``signature`` over ``body``, else
    ``SignatureRefused``: the hospital has no key (``no-signing-key``), none with the
    signature's ``kid`` (``unknown-key``: never registered or removed), or the signature
    does not match (``bad-signature``; anything that is not ASCII text is one)."""
    if not isinstance(signature, str) or not signature.isascii():
        raise SignatureRefused("bad-signature", "the signature is not ASCII text")
    if len(signature) > MAX_SIGNATURE_CHARS or signature.count(".") != 2:
        raise SignatureRefused("bad-signature", "the signature is not a detached JWS")
    held = [dict(k) for k in keys]
    if not held:
        raise SignatureRefused("no-signing-key", "the hospital has no signing key registered")
    kid = _kid_of(signature)
    found = [k for k in held if k.get("kid") == kid]
    if not found:
        raise SignatureRefused("unknown-key", f"no signing key {kid[:64]!r} of this hospital")
    try:
        key_set = KeySet.import_key_set({"keys": found})
        jws.deserialize_compact(signature, key_set, algorithms=[ALGORITHM], payload=body)
    except (JoseError, ValueError, TypeError) as exc:
        raise SignatureRefused("bad-signature", "the signature does not match the body") from exc
    return kid
