"""Physicians: a local mirror of the Medical Council's licences, and hospital rosters.

PINs are stored only as argon2id hashes (memory-hard). The mirror sits behind
``LicenceRegistry`` so a real registry can replace it; a roster entry is the
hospital staff's permission for one licence to use the system for that hospital.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Protocol

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo.asynchronous.database import AsyncDatabase

from shared.database import Document

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


async def check_pin(pin_hash: str | None, pin: str) -> bool:
    """``pin_matches`` off the event loop (argon2id is deliberately slow)."""
    return await asyncio.to_thread(pin_matches, pin_hash, pin)


def is_argon2id(text: str) -> bool:
    return text.startswith("$argon2id$")


class LicenceRegistry(Protocol):
    """The Medical Council registry (or a mirror of it)."""

    async def put(self, licence: str, name: str, pin_hash: str, active: bool = True) -> None: ...
    async def get(self, licence: str) -> Document | None: ...


class MongoLicenceRegistry:
    """The local mirror: ``licences`` with ``name``, ``pin_hash`` (argon2id), ``active``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.licences

    async def put(self, licence: str, name: str, pin_hash: str, active: bool = True) -> None:
        await self._coll.update_one(
            {"_id": licence},
            {"$set": {"name": name, "pin_hash": pin_hash, "active": active}},
            upsert=True,
        )

    async def get(self, licence: str) -> Document | None:
        return await self._coll.find_one({"_id": licence})


class Rosters:
    """Which physicians each hospital's staff allowed to use the system."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.rosters

    async def add(self, hospital: str, licence: str, at: datetime) -> bool:
        """True when the licence was not on the roster before."""
        result = await self._coll.update_one(
            {"_id": f"{hospital}:{licence}"},
            {"$set": {"hospital": hospital, "licence": licence, "active": True, "since": at}},
            upsert=True,
        )
        return result.upserted_id is not None or result.modified_count == 1

    async def remove(self, hospital: str, licence: str) -> bool:
        """True when the licence was on the roster."""
        result = await self._coll.update_one(
            {"_id": f"{hospital}:{licence}", "active": True}, {"$set": {"active": False}}
        )
        return result.modified_count == 1

    async def is_on(self, hospital: str, licence: str) -> bool:
        doc = await self._coll.find_one({"_id": f"{hospital}:{licence}"}, {"active": 1})
        return bool(doc and doc.get("active"))

    async def list(self, hospital: str) -> list[str]:
        cursor = self._coll.find({"hospital": hospital, "active": True}, {"licence": 1})
        return sorted([d["licence"] async for d in cursor])
