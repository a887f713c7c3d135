"""Physician use cases: the licence mirror, sign-in with lockout, hospital rosters.

PINs are stored only as argon2id hashes (memory-hard), checked off the event loop;
an unknown licence costs one verification too, so it takes as long as a wrong PIN.
A roster entry is the hospital staff's permission for one licence to use the
system for that hospital. Every sign-in, failure, lock-out and roster change is a
security event (``audit.py``).
"""

from __future__ import annotations

import asyncio
import weakref
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from services.query.errors import LockedOut
from services.query.handlers import Deps
from shared import tokens
from shared.errors import Forbidden, NotFound, Unauthorized
from shared.events import (
    PhysicianAdded,
    PhysicianLockedOut,
    PhysicianRemoved,
    PhysicianSignedIn,
    SignInFailed,
)

_hasher = PasswordHasher(type=Type.ID)
# Verified when a licence is unknown, so a wrong licence costs as long as a wrong PIN.
_DUMMY_HASH = _hasher.hash("not-a-pin")


def hash_pin(pin: str) -> str:
    return _hasher.hash(pin)


def pin_matches(pin_hash: str | None, pin: str) -> bool:
    try:
        return _hasher.verify(pin_hash or _DUMMY_HASH, pin) and pin_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# At most this many argon2id checks at once per process (each costs its memory cost,
# 64 MiB by default): a flood of sign-ins queues here instead of exhausting memory.
PIN_CHECKS = 2
_checks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
# One sign-in per licence at a time per process: the lockout is read, the PIN checked
# and the failure counted as one step, so parallel guesses cannot all pass the read
# before any is counted (issue 12: 97 of 100 were checked). Locks live while in use.
_licences: weakref.WeakValueDictionary[tuple[int, str], asyncio.Lock] = (
    weakref.WeakValueDictionary()
)


def _pin_checks() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _checks.get(loop)
    if gate is None:
        gate = _checks[loop] = asyncio.BoundedSemaphore(PIN_CHECKS)
    return gate


def _licence_lock(licence: str) -> asyncio.Lock:
    key = (id(asyncio.get_running_loop()), licence)
    lock = _licences.get(key)
    if lock is None:
        lock = asyncio.Lock()
        _licences[key] = lock
    return lock


async def check_pin(pin_hash: str | None, pin: str) -> bool:
    """``pin_matches`` off the event loop (argon2id is deliberately slow), at most
    ``PIN_CHECKS`` at once."""
    async with _pin_checks():
        return await asyncio.to_thread(pin_matches, pin_hash, pin)


def is_argon2id(text: str) -> bool:
    return text.startswith("$argon2id$")


async def register_licence(deps: Deps, licence: str, name: str, pin: str, active: bool) -> None:
    """Load one licence into the mirror; ``pin`` is a PIN or already its argon2id hash."""
    pin_hash = pin if is_argon2id(pin) else await asyncio.to_thread(hash_pin, pin)
    await deps.registry.put(licence, name, pin_hash, active)


async def sign_in(deps: Deps, licence: str, pin: str, hospital: str) -> dict[str, Any]:
    """A short-lived physician token for ``hospital``, or 401 / 403 / 429. Sign-ins for
    one licence are taken one at a time (``_licence_lock``), so the lockout counts each
    failure before the next PIN is checked."""
    async with _licence_lock(licence):
        return await _sign_in(deps, licence, pin, hospital)


async def _sign_in(deps: Deps, licence: str, pin: str, hospital: str) -> dict[str, Any]:
    now = deps.clock()
    if await deps.failures.locked_until(licence, now):
        await deps.auditor.security(
            SignInFailed(physician=licence, hospital=hospital, time=now, reason="locked-out")
        )
        raise LockedOut("too many failed sign-ins; try again later")
    entry = await deps.registry.get(licence)
    pin_ok = await check_pin(entry.get("pin_hash") if entry else None, pin)
    if entry is None or not pin_ok or not entry.get("active"):
        await _failed(deps, licence, hospital, now)
        raise Unauthorized("licence number or PIN is wrong")
    await deps.failures.succeeded(licence)
    view = await deps.view.hospital(hospital)
    if view is None or not view.active or not await deps.rosters.is_on(hospital, licence):
        await deps.auditor.security(
            SignInFailed(physician=licence, hospital=hospital, time=now, reason="not-on-roster")
        )
        raise Forbidden("ask your hospital's staff to add you to its roster")
    await deps.auditor.security(PhysicianSignedIn(physician=licence, hospital=hospital, time=now))
    token = tokens.issue(
        deps.secret, tokens.PHYSICIAN, licence, deps.token_ttl_s,
        hospital=hospital, name=entry["name"],
    )  # fmt: skip
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": deps.token_ttl_s,
        "hospital": hospital,
    }


async def _failed(deps: Deps, licence: str, hospital: str, now: datetime) -> None:
    failure = await deps.failures.failed(licence, now)
    await deps.auditor.security(
        SignInFailed(physician=licence, hospital=hospital, time=now, reason="bad-credentials",
                     failures=failure.count)
    )  # fmt: skip
    if failure.locked_now:
        until = now + timedelta(seconds=deps.settings.lockout_s)
        await deps.auditor.security(
            PhysicianLockedOut(physician=licence, hospital=hospital, time=now,
                               failures=failure.count, until=until)
        )  # fmt: skip


async def read_roster(deps: Deps, hospital: str) -> list[str]:
    return await deps.rosters.list(hospital)


async def add_to_roster(deps: Deps, hospital: str, licence: str) -> list[str]:
    """Add a licence active in the registry; a first addition is a security event."""
    entry = await deps.registry.get(licence)
    if entry is None or not entry.get("active"):
        raise NotFound("licence is not in the Medical Council registry")
    if await deps.rosters.add(hospital, licence, deps.clock()):
        await deps.auditor.security(
            PhysicianAdded(physician=licence, hospital=hospital, time=deps.clock())
        )
    return await deps.rosters.list(hospital)


async def remove_from_roster(deps: Deps, hospital: str, licence: str) -> list[str]:
    """Remove a licence; it takes effect on the physician's next request."""
    if await deps.rosters.remove(hospital, licence):
        await deps.auditor.security(
            PhysicianRemoved(physician=licence, hospital=hospital, time=deps.clock())
        )
    return await deps.rosters.list(hospital)
