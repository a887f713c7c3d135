"""The hospital console's keys screen: the hospital's upload signing keys (list, add a
public JWK, remove one) and a new admin key (docs/portal.md#keys-and-the-admin-key).

Every change is consent's API (``services/consent/keys_api.py``) called with the
hospital's current admin key, which only the session holds. A key pair made in the
browser never sends its private half here: the page registers the public JWK only, and
a private key pasted by mistake is refused before it goes anywhere (never logged, never
sent to consent). A new admin key is shown once, and the session switches to it; query
and ingest learn it from consent's event a moment later, so the portal waits (a bounded
poll) until they take it, and for a short while after a rotation a refusal of the new key
is "not yet taken", not the end of the session.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from healthlink_adapter.signing import check_public_jwk

from services.portal.hospitals import HospitalDeps, HospitalSession, as_hospital
from shared.errors import HealthLinkError, InvalidInput, NotFound

KEY_WAIT_S = 10.0  # how long a rotation waits for query and ingest to take the new key
KEY_POLL_S = 0.2
KEY_FIELDS = ("kid", "kty", "crv", "alg", "use")


class KeyRefused(InvalidInput):
    """The pasted key cannot be registered (code ``invalid-key``, or a more exact one)."""

    code = "invalid-key"
    status = 422


def public_key_of(given: dict[str, Any]) -> dict[str, Any]:
    """The public JWK to register from what was pasted: a JWK, or a JWK set holding one
    key (as ``healthlink hospitals keygen`` and most tools write it); ``KeyRefused`` says
    what is wrong. A private key is refused without repeating any of it."""
    jwk = given
    if "keys" in given:
        keys = given["keys"]
        if not isinstance(keys, list) or len(keys) != 1 or not isinstance(keys[0], dict):
            raise KeyRefused("paste one key: this key set does not hold exactly one")
        jwk = keys[0]
    if "d" in jwk:
        raise KeyRefused("a private key: keep it, paste its public half", code="private-key")
    kid = jwk.get("kid")
    if isinstance(kid, str) and kid.startswith("-"):
        raise KeyRefused("a kid must not begin with '-' (command lines read it as an option)",
                         code="kid-dash")  # fmt: skip
    try:
        public = check_public_jwk(jwk)
    except ValueError as exc:
        raise KeyRefused(f"signing key refused: {exc}") from None
    return public | {"alg": "ES256", "use": "sig"}


def key_view(jwk: dict[str, Any]) -> dict[str, Any]:
    """A signing key as the screen shows it (consent keeps no time a key was added)."""
    return {name: jwk.get(name) for name in KEY_FIELDS} | {"added_at": jwk.get("added_at")}


def _keys(code: str, state: dict[str, Any]) -> dict[str, Any]:
    keys = [key_view(k) for k in state.get("signing_keys") or [] if isinstance(k, dict)]
    return {"hospital": code, "keys": keys}


async def signing_keys(deps: HospitalDeps, session_id: str | None) -> dict[str, Any]:
    """This hospital's signing keys (consent's hospital, public)."""

    async def read(s: HospitalSession) -> dict[str, Any]:
        return _keys(s.hospital, await deps.api.hospital(s.hospital))

    return await as_hospital(deps, session_id, read)


async def add_signing_key(
    deps: HospitalDeps, session_id: str | None, given: dict[str, Any]
) -> dict[str, Any]:
    """Register a public key (``public_key_of``); the keys after."""
    jwk = public_key_of(given)

    async def add(s: HospitalSession) -> dict[str, Any]:
        state = await deps.api.add_signing_key(s.key, s.hospital, jwk)
        return _keys(s.hospital, state) | {"kid": jwk["kid"]}

    return await as_hospital(deps, session_id, add)


async def remove_signing_key(
    deps: HospitalDeps, session_id: str | None, kid: str
) -> dict[str, Any]:
    """Remove a key: uploads signed with it are set aside from the next one on."""

    async def remove(s: HospitalSession) -> dict[str, Any]:
        held = [k.get("kid") for k in (await deps.api.hospital(s.hospital)).get("signing_keys", [])]
        if kid not in held:
            raise NotFound(f"this hospital has no signing key {kid!r}", code="key-not-found")
        return _keys(s.hospital, await deps.api.remove_signing_key(s.key, s.hospital, kid))

    return await as_hospital(deps, session_id, remove)


async def rotate_admin_key(deps: HospitalDeps, session_id: str | None) -> dict[str, Any]:
    """A new admin key (in this answer only); the session holds it from now on, and the
    answer says whether query and ingest took it within ``KEY_WAIT_S``."""

    async def rotate(s: HospitalSession) -> dict[str, Any]:
        new = await deps.api.rotate_admin_key(s.key, s.hospital)
        changed = dataclasses.replace(s, key=new, key_changed_at=deps.clock())
        await deps.sessions.replace(str(session_id), changed)
        return {"hospital": s.hospital, "admin_key": new, "taken": await _taken(deps, changed)}

    return await as_hospital(deps, session_id, rotate)


async def _taken(deps: HospitalDeps, s: HospitalSession) -> bool:
    """Poll until query and ingest take the session's key (bounded by ``KEY_WAIT_S``);
    consent has made the key, so no error here may keep it from being shown."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + KEY_WAIT_S
    while True:
        try:
            if await deps.api.key_taken(s.key, s.hospital):
                return True
        except HealthLinkError:  # a service not answering: the new key is shown all the same
            pass
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(KEY_POLL_S)
