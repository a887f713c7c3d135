"""Throttles on the sign-in doors, with the ``limits`` library (moving windows).

Per client address and for all addresses together, checked before anything costly
(a database read, an argon2 check); over the limit → 429. The counters are in this
instance's memory: FerretDB 1.24's counter updates are not atomic under concurrency
(docs/indexes.md), and a global counter made of insert-only slots would cost up to
``limit`` inserts per request under exactly the load it is there to shed. So each
instance sheds load on its own (the platform's limit is replicas × this limit), while
the security bound — the PIN guesses a licence gets — is the lockout's, which is
atomic across instances (``slots.py``). docs/auth.md says more.
"""

from __future__ import annotations

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

GLOBAL = "*"


class Throttle:
    def __init__(self, per_address: str, overall: str) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_address: RateLimitItem = parse(per_address)
        self._overall: RateLimitItem = parse(overall)

    def allow(self, door: str, address: str) -> bool:
        """Count one request at ``door`` from ``address``; False when over a limit."""
        if not self._limiter.hit(self._overall, door, GLOBAL):
            return False
        return bool(self._limiter.hit(self._per_address, door, address))
