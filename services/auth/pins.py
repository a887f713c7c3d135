"""PINs: argon2id hashes only, and a bound on concurrent checks (each costs
``auth_argon2_memory_kib``, 64 MiB by default).

An unknown licence is checked against a dummy hash made with the same parameters, so
it costs as long as a wrong PIN (no licence enumeration by timing). A hash carries
its own parameters, so hashes made before a parameter change still verify. The logic
came from the query service (``services/query/physicians.py``), which drops it in
phase 2.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError


def is_argon2id(text: str) -> bool:
    return text.startswith("$argon2id$")


class PinChecker:
    """At most ``concurrency`` argon2 computations at once, off the event loop."""

    def __init__(self, concurrency: int, *, memory_kib: int = 65536, time_cost: int = 3) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._hasher = PasswordHasher(type=Type.ID, memory_cost=memory_kib, time_cost=time_cost)
        self._dummy: str | None = None

    def hash_now(self, pin: str) -> str:
        return self._hasher.hash(pin)

    def matches(self, pin_hash: str | None, pin: str) -> bool:
        if self._dummy is None:
            self._dummy = self._hasher.hash("not-a-pin")
        try:
            return self._hasher.verify(pin_hash or self._dummy, pin) and pin_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    async def check(self, pin_hash: str | None, pin: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self.matches, pin_hash, pin)

    async def hash(self, pin: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self.hash_now, pin)
