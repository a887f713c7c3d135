"""The auth service's storage ports, their MongoDB implementations and in-memory fakes.

FerretDB 1.24 runs a conditional update as a read, then a write by ``_id`` alone, so
two concurrent writers can both be told they won (docs/indexes.md, ``bench/cas_race``).
Everything here that must be won once is therefore an **insert of a unique key**,
which is atomic on FerretDB as on MongoDB:

- identity states are a log, one document per version (``<key>:<version>``): the
  writer whose insert of the next version succeeds made the change; the document is
  the outbox too (``published`` turns true after Kafka acknowledged it);
- the lockout's attempts are slots (``slots.py``): at most ``limit`` keys per window;
- codes, refresh tokens and assertion ids are used once by inserting a use marker
  (``oauthstore.py``, synchronous: it runs in authlib's worker thread).

Ports: ``StateLog`` (licences, rosters), ``Pins``, ``Patients`` here; ``Attempts`` in
``slots.py``; ``Interactions`` in ``interactions.py``; ``OAuthStore`` in
``oauthstore.py``. Each has its ``Memory…`` fake beside it; the indexes are declared
in ``indexes.py``.
"""

from __future__ import annotations

import contextlib
import copy
from datetime import datetime
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.database import Document
from shared.events import Envelope

KINDS = ("licences", "rosters")


class StateLog(Protocol):
    """Versioned full states of licences and rosters, each version written once."""

    async def latest(self, kind: str, key: str) -> tuple[int, dict[str, Any]]:
        """The current version and state (``0, {}`` before the first)."""
        ...

    async def append(
        self, kind: str, key: str, version: int, state: dict[str, Any], event: Envelope
    ) -> bool:
        """Write ``version`` of ``key`` unless someone already did (then False)."""
        ...

    async def unpublished(self, kind: str, before: datetime) -> list[tuple[str, Envelope]]: ...
    async def published(self, kind: str, doc_id: str) -> None: ...


class Pins(Protocol):
    async def set(self, licence: str, pin_hash: str) -> None: ...
    async def get(self, licence: str) -> str | None: ...


class Patients(Protocol):
    """Registered patients, from the consent service's patient events."""

    async def registered(self, cid: str) -> None: ...
    async def is_registered(self, cid: str) -> bool: ...


def state_doc_id(key: str, version: int) -> str:
    return f"{key}:{version:012d}"


class MongoStateLog:
    """``licence_log`` and ``roster_log``: ``{_id: <key>:<version>, key, version, state,
    event, published}``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    def _coll(self, kind: str) -> Any:
        return self._db[f"{kind[:-1]}_log"]

    async def latest(self, kind: str, key: str) -> tuple[int, dict[str, Any]]:
        cursor = self._coll(kind).find({"key": key}).sort("version", -1).limit(1)
        async for doc in cursor:
            return int(doc["version"]), dict(doc["state"])
        return 0, {}

    async def append(
        self, kind: str, key: str, version: int, state: dict[str, Any], event: Envelope
    ) -> bool:
        doc = {
            "_id": state_doc_id(key, version),
            "key": key,
            "version": version,
            "state": state,
            "event": event.model_dump(mode="json"),
            "time": event.time,
            "published": False,
        }
        try:
            await self._coll(kind).insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def unpublished(self, kind: str, before: datetime) -> list[tuple[str, Envelope]]:
        cursor = self._coll(kind).find({"published": False, "time": {"$lt": before}})
        return [(d["_id"], Envelope.model_validate(d["event"])) async for d in cursor]

    async def published(self, kind: str, doc_id: str) -> None:
        await self._coll(kind).update_one({"_id": doc_id}, {"$set": {"published": True}})


class MongoPins:
    """``pins``: the argon2id hash of each licence's PIN (never in an event)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.pins

    async def set(self, licence: str, pin_hash: str) -> None:
        await self._coll.update_one({"_id": licence}, {"$set": {"hash": pin_hash}}, upsert=True)

    async def get(self, licence: str) -> str | None:
        doc = await self._coll.find_one({"_id": licence})
        return str(doc["hash"]) if doc else None


class MongoPatients:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.patients

    async def registered(self, cid: str) -> None:
        with contextlib.suppress(DuplicateKeyError):  # a redelivered registration
            await self._coll.insert_one({"_id": cid})

    async def is_registered(self, cid: str) -> bool:
        return await self._coll.find_one({"_id": cid}) is not None


class MemoryStateLog:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Document]] = {kind: {} for kind in KINDS}

    async def latest(self, kind: str, key: str) -> tuple[int, dict[str, Any]]:
        found = [d for d in self.docs[kind].values() if d["key"] == key]
        if not found:
            return 0, {}
        top = max(found, key=lambda d: d["version"])
        return top["version"], copy.deepcopy(top["state"])

    async def append(
        self, kind: str, key: str, version: int, state: dict[str, Any], event: Envelope
    ) -> bool:
        doc_id = state_doc_id(key, version)
        if doc_id in self.docs[kind]:
            return False
        self.docs[kind][doc_id] = {
            "key": key,
            "version": version,
            "state": copy.deepcopy(state),
            "event": event,
            "published": False,
        }
        return True

    async def unpublished(self, kind: str, before: datetime) -> list[tuple[str, Envelope]]:
        return [
            (i, d["event"])
            for i, d in sorted(self.docs[kind].items())
            if not d["published"] and d["event"].time < before
        ]

    async def published(self, kind: str, doc_id: str) -> None:
        self.docs[kind][doc_id]["published"] = True


class MemoryPins:
    def __init__(self) -> None:
        self.hashes: dict[str, str] = {}

    async def set(self, licence: str, pin_hash: str) -> None:
        self.hashes[licence] = pin_hash

    async def get(self, licence: str) -> str | None:
        return self.hashes.get(licence)


class MemoryPatients:
    def __init__(self) -> None:
        self.cids: set[str] = set()

    async def registered(self, cid: str) -> None:
        self.cids.add(cid)

    async def is_registered(self, cid: str) -> bool:
        return cid in self.cids
