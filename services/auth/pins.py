"""PINs: argon2id hashes only, and a bound on concurrent checks (each costs 64 MiB).

An unknown licence is checked against a dummy hash, so it costs as long as a wrong PIN
(no licence enumeration by timing). The logic came from the query service
(``services/query/physicians.py``), which drops it in phase 2.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(type=Type.ID)
_DUMMY_HASH = _hasher.hash("not-a-pin")


def hash_pin(pin: str) -> str:
    return _hasher.hash(pin)


def pin_matches(pin_hash: str | None, pin: str) -> bool:
    try:
        return _hasher.verify(pin_hash or _DUMMY_HASH, pin) and pin_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def is_argon2id(text: str) -> bool:
    return text.startswith("$argon2id$")


class PinChecker:
    """At most ``concurrency`` argon2 computations at once, off the event loop."""

    def __init__(self, concurrency: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)

    async def check(self, pin_hash: str | None, pin: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(pin_matches, pin_hash, pin)

    async def hash(self, pin: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(hash_pin, pin)
