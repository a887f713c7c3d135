"""Pending authorization requests (``Interaction``): from ``GET /authorize`` to the
redirect back to the app, through the sign-in page's steps. Each is read and written
whole by its id (a random secret the page carries with its CSRF token)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from services.auth.domain import Interaction, Subject
from shared.database import Document


class Interactions(Protocol):
    async def put(self, interaction: Interaction) -> None: ...
    async def get(self, interaction_id: str) -> Interaction | None: ...
    async def delete(self, interaction_id: str) -> None: ...
    async def purge(self, before: datetime) -> int: ...


def to_doc(i: Interaction) -> Document:
    return {
        "_id": i.id,
        "params": i.params,
        "csrf": i.csrf,
        "expires_at": i.expires_at,
        "client_id": i.client_id,
        "scope": i.scope,
        "subject": i.subject.to_doc() if i.subject else None,
        "step": i.step,
        "otp": i.otp,
        "session": i.session,
    }


def from_doc(doc: dict[str, Any]) -> Interaction:
    subject = doc.get("subject")
    return Interaction(
        id=doc["_id"],
        params=dict(doc["params"]),
        csrf=doc["csrf"],
        expires_at=doc["expires_at"],
        client_id=doc["client_id"],
        scope=doc["scope"],
        subject=Subject.from_doc(subject) if subject else None,
        step=doc["step"],
        otp=dict(doc.get("otp") or {}),
        session=doc.get("session"),
    )


class MongoInteractions:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.interactions

    async def put(self, interaction: Interaction) -> None:
        doc = to_doc(interaction)
        await self._coll.replace_one({"_id": interaction.id}, doc, upsert=True)

    async def get(self, interaction_id: str) -> Interaction | None:
        doc = await self._coll.find_one({"_id": interaction_id})
        return from_doc(doc) if doc else None

    async def delete(self, interaction_id: str) -> None:
        await self._coll.delete_one({"_id": interaction_id})

    async def purge(self, before: datetime) -> int:
        result = await self._coll.delete_many({"expires_at": {"$lt": before}})
        return int(result.deleted_count)


class MemoryInteractions:
    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    async def put(self, interaction: Interaction) -> None:
        self.docs[interaction.id] = to_doc(interaction)

    async def get(self, interaction_id: str) -> Interaction | None:
        doc = self.docs.get(interaction_id)
        return from_doc(doc) if doc else None

    async def delete(self, interaction_id: str) -> None:
        self.docs.pop(interaction_id, None)

    async def purge(self, before: datetime) -> int:
        gone = [k for k, d in self.docs.items() if d["expires_at"] < before]
        for key in gone:
            del self.docs[key]
        return len(gone)
