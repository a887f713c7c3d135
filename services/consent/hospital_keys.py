"""A hospital's credentials over its life: its admin key rotated, its upload signing keys
added and removed.

The admin key is random (``shared.hospital_auth.new_admin_key``), shown once, kept as
its SHA-256. The signing keys are the public halves of keys the hospital holds (a JWK
set, several at once, each with its ``kid``): a key is rotated by adding the new one and
then removing the old one; a removed key signs nothing from the next upload on. Every
change is a ``hospital.credentials_changed`` event carrying the new state (a hash and
public keys, never a secret), so the other services' hospital projections follow.
"""

from __future__ import annotations

from typing import Any

from healthlink_adapter.signing import check_public_jwk

from services.consent.domain import HospitalState, check_hcode
from services.consent.errors import HospitalNotFound, KeyConflict, SigningKeyNotFound
from services.consent.handlers import Change, Deps, Record, change
from services.consent.registry import shown_state
from shared.coverage import SigningKey
from shared.errors import InvalidInput
from shared.events import HospitalCredentialsChanged
from shared.hospital_auth import digest, new_admin_key

MAX_SIGNING_KEYS = 10  # a rotation needs two at once; a few more for several sites


class StoredHospitals:
    """The hospitals as the consent service itself keeps them (``shared.hospital_auth``)."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def hospital(self, code: str) -> HospitalState | None:
        version, state = await self.deps.repo.get("hospitals", code)
        return HospitalState.model_validate(state) if version else None


def _existing(code: str, version: int, state: dict[str, Any]) -> HospitalState:
    if version == 0:
        raise HospitalNotFound(f"hospital {code} is not a participating hospital")
    return HospitalState.model_validate(state)


async def rotate_admin_key(deps: Deps, code: str, record: Record | None = None) -> dict[str, Any]:
    """A new admin key for the hospital, returned this once; the old one is refused from
    the moment each service has the new state."""
    check_hcode(code)
    key = new_admin_key()

    def apply(version: int, state: dict[str, Any]) -> Change:
        current = _existing(code, version, state)
        return Change(current.model_copy(update={"admin_key_sha256": digest(key)}))

    stored = await change(deps, "hospitals", code, HospitalCredentialsChanged, apply, record=record)
    return {"code": code, "version": stored.version, "admin_key": key}


def signing_key_of(jwk: dict[str, Any]) -> SigningKey:
    """A public upload signing key from a JWK, or ``InvalidInput`` saying what is wrong."""
    try:
        return SigningKey.model_validate(check_public_jwk(jwk))
    except ValueError as exc:  # pydantic's ValidationError is one too
        raise InvalidInput(f"signing key refused: {exc}", code="invalid-key") from None


async def add_signing_key(
    deps: Deps, code: str, jwk: dict[str, Any], record: Record | None = None
) -> dict[str, Any]:
    """Register a public key the hospital signs uploads with; the same key again changes
    nothing, another key under a ``kid`` in use is 409."""
    check_hcode(code)
    added = signing_key_of(jwk)

    def apply(version: int, state: dict[str, Any]) -> Change | None:
        current = _existing(code, version, state)
        for held in current.signing_keys:
            if held.kid == added.kid:
                if held == added:
                    return None
                raise KeyConflict(f"hospital {code} has another key with kid {added.kid!r}")
        if len(current.signing_keys) >= MAX_SIGNING_KEYS:
            raise KeyConflict(f"at most {MAX_SIGNING_KEYS} signing keys; remove an old one")
        keys = (*current.signing_keys, added)
        return Change(current.model_copy(update={"signing_keys": keys}))

    stored = await change(deps, "hospitals", code, HospitalCredentialsChanged, apply, record=record)
    return shown_state(stored.version, stored.state)


async def remove_signing_key(
    deps: Deps, code: str, kid: str, record: Record | None = None
) -> dict[str, Any]:
    """Remove a signing key: uploads signed with it are set aside from the next one on."""
    check_hcode(code)

    def apply(version: int, state: dict[str, Any]) -> Change:
        current = _existing(code, version, state)
        keys = tuple(k for k in current.signing_keys if k.kid != kid)
        if len(keys) == len(current.signing_keys):
            raise SigningKeyNotFound(f"hospital {code} has no signing key {kid!r}")
        return Change(current.model_copy(update={"signing_keys": keys}))

    stored = await change(deps, "hospitals", code, HospitalCredentialsChanged, apply, record=record)
    return shown_state(stored.version, stored.state)
