"""One asyncio lock per key: writes to the same document from one process go in turn.

FerretDB 1.24 runs an update as a ``SELECT`` of the filter, then writes back the whole
document it computed from what it read, the filter not checked again
(docs/indexes.md, "FerretDB 1.24's conditional updates are not atomic"). Two writes
to one document at once can therefore lose one of them: consent's outbox clear, which
read the document before a revocation was saved, wrote it back without the revocation.
Within one process, holding the document's lock around each write closes that window
(MongoDB's updates are atomic and need none of it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class KeyLocks:
    """A lock per key, dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        lock = lock or asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
