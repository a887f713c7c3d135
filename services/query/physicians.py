"""Physicians: a local mirror of the Medical Council's licences, and hospital rosters.

PINs are stored only as argon2id hashes. The mirror is behind ``LicenceRegistry``
so a real registry can replace it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo.asynchronous.database import AsyncDatabase

from shared.database import Document

_hasher = PasswordHasher()


def hash_pin(pin: str) -> str:
    return _hasher.hash(pin)


def pin_matches(pin_hash: str, pin: str) -> bool:
    try:
        return _hasher.verify(pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False


class LicenceRegistry(Protocol):
    async def put(self, licence: str, name: str, pin_hash: str) -> None: ...
    async def get(self, licence: str) -> Document | None: ...


class MongoLicenceRegistry:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.licences

    async def put(self, licence: str, name: str, pin_hash: str) -> None:
        await self._coll.update_one(
            {"_id": licence},
            {"$set": {"name": name, "pin_hash": pin_hash, "active": True}},
            upsert=True,
        )

    async def get(self, licence: str) -> Document | None:
        return await self._coll.find_one({"_id": licence})


class Rosters:
    """Which physicians each hospital's staff allowed to use the system."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.rosters

    async def add(self, hospital: str, licence: str, at: datetime) -> None:
        await self._coll.update_one(
            {"_id": f"{hospital}:{licence}"},
            {"$set": {"hospital": hospital, "licence": licence, "active": True, "since": at}},
            upsert=True,
        )

    async def remove(self, hospital: str, licence: str) -> bool:
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
