"""Local copies of consent and hospital states, kept from their events.

Consent and hospital events carry the full resulting state and a version per
subject, so any service keeps its own copy and decides locally with the predicates
of ``shared.coverage``, with no call to the consent service on a hot path. Applying
is idempotent and order-safe: a state is written only when its version is newer than
the stored one, so a redelivered or replayed event changes nothing.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.coverage import ConsentState, HospitalState
from shared.database import Document
from shared.events import ConsentChanged, Envelope, HospitalChanged, parse


@dataclass(frozen=True)
class Consent:
    """A patient's consent as this service last heard of it."""

    cid: str
    version: int
    state: ConsentState

    @classmethod
    def from_doc(cls, doc: Document) -> Consent:
        return cls(doc["_id"], int(doc["version"]), ConsentState.model_validate(doc["state"]))


def hospital_of(doc: Document) -> HospitalState:
    return HospitalState.model_validate(doc["state"])


async def apply_versioned(
    coll: AsyncCollection[Document], key: str, version: int, state: dict[str, Any]
) -> bool:
    """Store ``state`` under ``key`` if ``version`` is newer; True when it was written."""
    result = await coll.update_one(
        {"_id": key, "version": {"$lt": version}},
        {"$set": {"version": version, "state": state}},
    )
    if result.matched_count:
        return True
    try:
        await coll.insert_one({"_id": key, "version": version, "state": state})
    except DuplicateKeyError:
        return False  # a same or newer version is already there
    return True


class Versions(Protocol):
    """Versioned states by key: ``{"_id", "version", "state"}`` documents."""

    async def apply(self, key: str, version: int, state: dict[str, Any]) -> bool:
        """Store ``state`` if ``version`` is newer than the stored one."""
        ...

    async def get(self, key: str) -> Document | None: ...

    async def get_many(self, keys: list[str]) -> dict[str, Document]: ...


class MongoVersions:
    def __init__(self, coll: AsyncCollection[Document]) -> None:
        self.coll = coll

    async def apply(self, key: str, version: int, state: dict[str, Any]) -> bool:
        return await apply_versioned(self.coll, key, version, state)

    async def get(self, key: str) -> Document | None:
        return await self.coll.find_one({"_id": key})

    async def get_many(self, keys: list[str]) -> dict[str, Document]:
        """One ``find_one`` by ``_id`` per key, gathered: FerretDB 1.24 does not push
        ``{"_id": {"$in": keys}}`` down, so that one query would read the whole
        collection (docs/indexes.md); by ``_id`` each is served by an index."""
        unique = list(dict.fromkeys(keys))
        docs = await asyncio.gather(*(self.get(key) for key in unique))
        return {key: doc for key, doc in zip(unique, docs, strict=True) if doc is not None}


class MemoryVersions:
    """The in-memory fake, for unit tests."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    async def apply(self, key: str, version: int, state: dict[str, Any]) -> bool:
        held = self.docs.get(key)
        if held is not None and held["version"] >= version:
            return False
        self.docs[key] = {"_id": key, "version": version, "state": copy.deepcopy(state)}
        return True

    async def get(self, key: str) -> Document | None:
        return copy.deepcopy(self.docs.get(key))

    async def get_many(self, keys: list[str]) -> dict[str, Document]:
        return {key: copy.deepcopy(self.docs[key]) for key in keys if key in self.docs}


class ConsentProjection:
    """Consent and hospital events -> this service's copies of their states."""

    def __init__(self, consents: Versions, hospitals: Versions) -> None:
        self.consents = consents
        self.hospitals = hospitals

    @classmethod
    def in_database(cls, db: AsyncDatabase[Document]) -> ConsentProjection:
        """Kept in ``consent_view`` and ``hospital_view`` of the service's database."""
        return cls(MongoVersions(db.consent_view), MongoVersions(db.hospital_view))

    @classmethod
    def in_memory(cls) -> ConsentProjection:
        return cls(MemoryVersions(), MemoryVersions())

    async def on_consent_event(self, envelope: Envelope) -> bool:
        """Apply a consent change; other events on the topic (patients) are skipped."""
        event = parse(envelope)
        if not isinstance(event, ConsentChanged):
            return False
        state = event.state.model_dump(mode="json")
        return await self.consents.apply(envelope.subject, event.version, state)

    async def on_hospital_event(self, envelope: Envelope) -> bool:
        event = HospitalChanged.of(envelope)
        state = event.state.model_dump(mode="json")
        return await self.hospitals.apply(envelope.subject, event.version, state)

    async def consent(self, cid: str) -> Consent | None:
        doc = await self.consents.get(cid)
        return Consent.from_doc(doc) if doc else None

    async def hospital(self, code: str) -> HospitalState | None:
        doc = await self.hospitals.get(code)
        return hospital_of(doc) if doc else None

    async def consents_of(self, cids: list[str]) -> dict[str, Consent | None]:
        """Several patients' consents in one read (a batch's worth)."""
        found = await self.consents.get_many(cids)
        return {cid: Consent.from_doc(found[cid]) if cid in found else None for cid in cids}

    async def hospitals_of(self, codes: list[str]) -> dict[str, HospitalState | None]:
        """Several hospitals' states in one read."""
        found = await self.hospitals.get_many(codes)
        return {code: hospital_of(found[code]) if code in found else None for code in codes}
