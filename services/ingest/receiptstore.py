"""Where receipts are kept (``receipts``): the port, MongoDB (FerretDB) and an in-memory fake.

One document per upload and sending hospital (``_id = {hospital}/{upload id}``; the
fields are ``receipts.to_doc``'s). Writes follow ``receipts.replaces``: insert-first
(one ``insert_many`` per batch: most receipts are new), then only the ids that
already exist are updated, each by ``_id`` (``stored`` always, ``set-aside`` unless
``stored``, ``queued`` never); ``settle_queued`` only updates one still ``queued``.
The indexes and query shapes are in ``indexes.py``.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase

from services.ingest.receipts import (
    QUEUED,
    SET_ASIDE,
    STORED,
    Receipt,
    from_doc,
    merged,
    receipt_key,
    replaces,
    to_doc,
)
from shared.database import Document, insert_new


class Receipts(Protocol):
    """What became of each upload."""

    async def record(self, receipts: list[Receipt]) -> None:
        """Keep each receipt where ``receipts.replaces`` lets it replace what is kept."""
        ...

    async def find(self, hospital: str, upload_id: str) -> Receipt | None: ...

    async def settle_queued(self, receipts: list[Receipt]) -> None:
        """Write each receipt over one still ``queued``, never creating one: the gateway
        gave that receipt after checking the upload's signature, and the consumer could
        not check it again (its key removed meanwhile)."""
        ...


def _update(receipt: Receipt) -> tuple[Document, Document] | None:
    """Filter and update that write ``receipt`` over an existing one, if it may."""
    doc = to_doc(receipt)
    if receipt.state == STORED:
        return {"_id": doc["_id"]}, {"$set": doc}
    if receipt.state == SET_ASIDE:
        return {"_id": doc["_id"], "state": {"$ne": STORED}}, {"$set": doc}
    assert receipt.state == QUEUED
    return None


class MongoReceipts:
    """``receipts`` on MongoDB (FerretDB)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._receipts = db.receipts

    async def record(self, receipts: list[Receipt]) -> None:
        latest = merged(receipts)  # each id once
        existing = [latest[i] for i in await insert_new(self._receipts, list(map(to_doc, latest)))]
        updates = [u for u in map(_update, existing) if u is not None]
        await asyncio.gather(*(self._receipts.update_one(*u) for u in updates))

    async def find(self, hospital: str, upload_id: str) -> Receipt | None:
        doc = await self._receipts.find_one({"_id": receipt_key(hospital, upload_id)})
        return None if doc is None else from_doc(doc)

    async def settle_queued(self, receipts: list[Receipt]) -> None:
        docs = [to_doc(r) for r in merged(receipts)]
        await asyncio.gather(
            *(
                self._receipts.update_one({"_id": d["_id"], "state": QUEUED}, {"$set": d})
                for d in docs
            )
        )


class MemoryReceipts:
    """The fake ``receipts``, same rules."""

    def __init__(self) -> None:
        self.kept: dict[str, Receipt] = {}

    async def record(self, receipts: list[Receipt]) -> None:
        for receipt in merged(receipts):
            old = self.kept.get(receipt.key)
            if replaces(None if old is None else old.state, receipt.state):
                self.kept[receipt.key] = receipt

    async def find(self, hospital: str, upload_id: str) -> Receipt | None:
        return self.kept.get(receipt_key(hospital, upload_id))

    async def settle_queued(self, receipts: list[Receipt]) -> None:
        for receipt in merged(receipts):
            old = self.kept.get(receipt.key)
            if old is not None and old.state == QUEUED:
                self.kept[receipt.key] = receipt
