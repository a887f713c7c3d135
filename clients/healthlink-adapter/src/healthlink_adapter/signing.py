"""Upload signatures: what a hospital puts in ``hl-signature`` and how the platform checks it.

Today an upload is signed with HMAC-SHA256 over the exact body bytes with the
hospital's upload key, written ``sha256=<hex>``. Uploaders take any ``Signer``,
so a detached JWS signed with the hospital's own private key (coming) replaces
``HmacSha256`` without changing them.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

PREFIX = "sha256="


class Signer(Protocol):
    """Makes the ``hl-signature`` value for an upload body."""

    def sign(self, body: bytes) -> str: ...


def sign_body(key: str, body: bytes) -> str:
    """The upload signature header value: ``sha256=<hex HMAC-SHA256 of body under key>``."""
    return PREFIX + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def check_body(key: str, body: bytes, signature: str | None) -> bool:
    """True when ``signature`` is ``body``'s signature under ``key`` (constant time).

    Anything that is not an ASCII string (a missing header, bytes that are not
    text) is simply a wrong signature.
    """
    if not isinstance(signature, str) or not signature.isascii():
        return False
    return hmac.compare_digest(sign_body(key, body).encode(), signature.encode())


class HmacSha256:
    """Today's scheme: HMAC-SHA256 with the hospital's upload key."""

    def __init__(self, upload_key: str) -> None:
        if not upload_key:
            raise ValueError("an upload key is required")
        self._key = upload_key

    def sign(self, body: bytes) -> str:
        return sign_body(self._key, body)


def as_signer(key_or_signer: str | Signer) -> Signer:
    """A ``Signer``; a plain string is taken as today's HMAC upload key."""
    if isinstance(key_or_signer, str):
        return HmacSha256(key_or_signer)
    return key_or_signer
