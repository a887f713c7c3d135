"""A hospital's admin key: made, stored and checked in one place.

The consent service makes the key when a hospital joins and on every rotation
(``new_admin_key``): 32 random bytes (256 bits), shown once. Only its SHA-256 is kept
(``HospitalState.admin_key_sha256``), in the consent service's state and in the hospital
events the other services keep their hospital projections from. A slow password hash
(argon2, bcrypt) protects guessable secrets by making each guess expensive; a 256-bit
random key cannot be guessed, so a plain hash that cannot be inverted is enough, and the
check costs nothing on a hot path.

Every service checks an admin key with ``require_admin_key`` against its own copy of the
hospital's state (``app.state.hospitals``, set by its composition root): query's roster,
audit's hospital scope, ingest's receipts, and every service's set-aside uploads for
hospital staff (``shared/hospital_letters.py``). After a rotation the old key is refused
as soon as the service has the hospital's new state.

A hospital *system* (its software, not its staff) also proves who it is with a SMART
Backend Services access token from the auth service (``require_system_token``): a
``hospital-system`` client registered for that hospital, whose token carries the
``hospital`` claim and ``system/`` scopes. Ingest's ``POST /fhir`` wants one beside the
body's signature: the token says which system may call, the signature that these bytes
are what the hospital sent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Protocol

from fastapi import Request

from shared.auth import Principal, bearer_token
from shared.coverage import HospitalState
from shared.errors import Forbidden, Unauthorized
from shared.operators import token_verifier

KEY_BYTES = 32
REFUSED = "this hospital's admin key is required"


class Hospitals(Protocol):
    """Where a service reads a hospital's state (its hospital projection)."""

    async def hospital(self, code: str) -> HospitalState | None: ...


def new_admin_key() -> str:
    """A fresh admin key: 256 random bits, URL-safe text."""
    return secrets.token_urlsafe(KEY_BYTES)


def digest(key: str) -> str:
    """What is stored of an admin key: the hex SHA-256 of its text."""
    return hashlib.sha256(key.encode()).hexdigest()


def admin_key_matches(state: HospitalState | None, presented: str) -> bool:
    """Whether ``presented`` is the hospital's current admin key (constant time)."""
    if state is None or not state.admin_key_sha256:
        return False
    return hmac.compare_digest(digest(presented), state.admin_key_sha256)


def hospitals_of(request: Request) -> Hospitals | None:
    found: Hospitals | None = getattr(request.app.state, "hospitals", None)
    return found


async def is_admin_key(request: Request, code: str, presented: str) -> bool:
    """Whether ``presented`` is ``code``'s admin key, as this service knows the hospital."""
    hospitals = hospitals_of(request)
    if hospitals is None:
        return False
    return admin_key_matches(await hospitals.hospital(code), presented)


async def require_admin_key(request: Request, code: str) -> None:
    """The bearer token must be ``code``'s current admin key, else 401."""
    token = bearer_token(request.headers.get("authorization"))
    if not await is_admin_key(request, code, token):
        raise Unauthorized(REFUSED)


async def require_system_token(
    request: Request, code: str, resource: str, action: str
) -> Principal:
    """A valid access token of ``code``'s hospital system allowing ``action`` (one of c r
    u d s) on ``resource``: 401 without a valid token, 403 for another hospital's token
    or one whose scopes do not allow it."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized(f"a SMART Backend Services token of hospital {code} is required")
    principal = await token_verifier(request).verify_header(header)
    if principal.hospital != code:
        raise Forbidden(f"this token is not hospital {code}'s system's")
    if not principal.may(resource, action, ("system",)):
        raise Forbidden(f"this token's scopes do not allow system/{resource}.{action}")
    return principal
