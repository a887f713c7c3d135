"""The audit log's storage: hash-chained records plus each chain's tip, kept apart.

``AuditLog`` is the port the use cases need; ``MongoAuditLog`` keeps it in MongoDB
(``fakes.MemoryAuditLog`` keeps it over dicts, for unit tests). Building records and
verifying chains are pure rules (``chain.py``, ``verification.py``), not storage.

``records``: one document per audited message, ``_id = chain:seq`` (a unique insert, so
two writers can never fork a chain), unique index on ``event_id`` (a redelivered
message is stored once). ``tips``: one document per chain, ``{_id: chain, seq, hash}``,
advanced with compare-and-set from the previous tip, so truncating or editing the
tail of a chain is detectable.

Crash safety without transactions: a record is inserted first, the tip moved second.
A crash in between leaves exactly one record past the tip that links to it; the next
append (or ``reconcile`` on start) recognises it and moves the tip forward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.audit.chain import ChainTip, follows, next_record, settled_tips, tip_of
from services.audit.errors import ChainContended
from services.audit.sources import Entry
from shared.database import Document
from shared.events import utcnow
from shared.logging import get_logger

log = get_logger(__name__)
MAX_TRIES = 8
FILTERS = ("kind", "patient", "physician", "hospital", "decision", "type")
Chains = dict[str, list[Document]]


class AuditLog(Protocol):
    async def append(self, entry: Entry) -> bool:
        """Append to the entry's chain once; False when its event id is already stored."""
        ...

    async def snapshot(self) -> tuple[Chains, dict[str, ChainTip]]:
        """Every chain (records by seq) and the tip to check it against."""
        ...

    async def search(
        self,
        criteria: Mapping[str, Any],
        since: datetime | None,
        until: datetime | None,
        skip: int,
        limit: int,
    ) -> list[Document]:
        """Records matching ``criteria`` (exact fields) and a time range, newest first."""
        ...

    async def tips(self) -> dict[str, ChainTip]:
        """Every chain's stored tip."""
        ...

    async def hashes(self, chain: str, start: int, end: int) -> list[str]:
        """The stored hashes of seq ``start`` to ``end - 1`` (one per seq, in order;
        shorter when some are missing)."""
        ...

    async def records_of(self, criteria: Mapping[str, Any], limit: int) -> list[Document]:
        """Whole stored records matching ``criteria``, oldest first (per chain and seq)."""
        ...

    async def add_head(self, head: Document) -> None:
        """Keep a signed head (``_id`` chain:tree_size); a second copy is ignored."""
        ...

    async def heads(self) -> list[Document]:
        """Every stored signed head."""
        ...


def record_key(chain: str, seq: int) -> str:
    return f"{chain}:{seq:012d}"


def wanted(criteria: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in criteria.items() if k in FILTERS and v}


class MongoAuditLog:
    def __init__(self, db: AsyncDatabase[Document], clock: Callable[[], datetime] = utcnow) -> None:
        self._records = db.records
        self._tips = db.tips
        self._heads = db.heads
        self._arrivals = db.arrivals
        self._clock = clock
        self._last: dict[str, ChainTip | None] = {}

    async def ensure_indexes(self) -> None:
        await self._records.create_index([("event_id", ASCENDING)], unique=True, name="event_id")
        await self._records.create_index([("chain", ASCENDING), ("seq", DESCENDING)], name="chain")
        await self._records.create_index(
            [("patient", ASCENDING), ("time", DESCENDING)], name="patient_time"
        )
        await self._records.create_index([("time", DESCENDING)], name="time")

    # --- writing ------------------------------------------------------------------------------

    async def append(self, entry: Entry) -> bool:
        for _ in range(MAX_TRIES):
            last = await self._last_of(entry.chain)
            arrived = self._clock()
            record = next_record(entry.chain, last, entry.event_id, entry.body, entry.index)
            record["_id"] = record_key(entry.chain, record["seq"])
            try:
                await self._records.insert_one(record)
            except DuplicateKeyError:
                self._last.pop(entry.chain, None)
                if await self.seen(entry.event_id):
                    return False
                continue  # another writer took this seq: read the chain again
            new = tip_of(record)
            self._last[entry.chain] = new
            await self._advance(entry.chain, last, new)
            await self._arrived(record["_id"], arrived)
            return True
        raise ChainContended(entry.chain)

    async def _arrived(self, key: str, when: datetime) -> None:
        """When the record was stored (the lag benchmark), kept beside it, not in it: a
        record holds only what its hash covers and a replay rebuilds the same hashes."""
        with contextlib.suppress(DuplicateKeyError):
            await self._arrivals.insert_one({"_id": key, "stored_at": when})

    async def seen(self, event_id: str) -> bool:
        return await self._records.find_one({"event_id": event_id}, {"_id": 1}) is not None

    async def _last_of(self, chain: str) -> ChainTip | None:
        """The chain's last record (cached per writer), reconciling the stored tip."""
        if chain in self._last:
            return self._last[chain]
        doc = await self._records.find_one({"chain": chain}, sort=[("seq", DESCENDING)])
        last = tip_of(doc) if doc else None
        stored = await self.tip(chain)
        if doc is not None and stored != last and follows(doc, stored):
            log.warning("chain tip behind its last record; reconciling", chain=chain)
            await self._advance(chain, stored, last)
        self._last[chain] = last
        return last

    async def _advance(self, chain: str, old: ChainTip | None, new: ChainTip | None) -> None:
        """Compare-and-set the tip from ``old`` to ``new``."""
        assert new is not None
        fields = {"seq": new.seq, "hash": new.hash, "updated_at": self._clock()}
        if old is None:
            try:
                await self._tips.insert_one({"_id": chain, **fields})
            except DuplicateKeyError:
                log.error("chain tip already exists; not moved", chain=chain)
            return
        result = await self._tips.update_one(
            {"_id": chain, "seq": old.seq, "hash": old.hash}, {"$set": fields}
        )
        if result.matched_count != 1:
            log.error("chain tip differs from the writer's; not moved", chain=chain)

    async def reconcile(self) -> None:
        """On start: move every tip a crash left behind (see the module docstring)."""
        self._last.clear()
        for chain in await self._records.distinct("chain"):
            await self._last_of(str(chain))

    # --- reading ------------------------------------------------------------------------------

    async def tip(self, chain: str) -> ChainTip | None:
        doc = await self._tips.find_one({"_id": chain})
        return ChainTip(seq=int(doc["seq"]), hash=str(doc["hash"])) if doc else None

    async def tips(self) -> dict[str, ChainTip]:
        return {
            str(d["_id"]): ChainTip(seq=int(d["seq"]), hash=str(d["hash"]))
            async for d in self._tips.find({})
        }

    async def snapshot(self) -> tuple[Chains, dict[str, ChainTip]]:
        """Consistent while writers run: tips are read before and after the records."""
        before = await self.tips()
        records = await self.chains()
        after = await self.tips()
        return records, settled_tips(records, before, after)

    async def chains(self) -> Chains:
        found: Chains = {}
        cursor = self._records.find({}).sort([("chain", ASCENDING), ("seq", ASCENDING)])
        async for doc in cursor:
            found.setdefault(doc["chain"], []).append(doc)
        return found

    async def hashes(self, chain: str, start: int, end: int) -> list[str]:
        cursor = self._records.find(
            {"chain": chain, "seq": {"$gte": start, "$lt": end}}, {"seq": 1, "hash": 1}
        ).sort([("seq", ASCENDING)])
        return contiguous([doc async for doc in cursor], start)

    async def records_of(self, criteria: Mapping[str, Any], limit: int) -> list[Document]:
        cursor = (
            self._records.find(dict(criteria))
            .sort([("chain", ASCENDING), ("seq", ASCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def add_head(self, head: Document) -> None:
        doc = {"_id": f"{head['chain']}:{int(head['tree_size']):012d}", **head}
        with contextlib.suppress(DuplicateKeyError):
            await self._heads.insert_one(doc)

    async def heads(self) -> list[Document]:
        return [doc async for doc in self._heads.find({})]

    async def search(
        self,
        criteria: Mapping[str, Any],
        since: datetime | None,
        until: datetime | None,
        skip: int,
        limit: int,
    ) -> list[Document]:
        query: dict[str, Any] = wanted(criteria)
        window: dict[str, datetime] = {}
        if since is not None:
            window["$gte"] = since
        if until is not None:
            window["$lt"] = until
        if window:
            query["time"] = window
        cursor = (
            self._records.find(query, {"prev_hash": 0})
            .sort([("time", DESCENDING), ("_id", DESCENDING)])
            .skip(skip)
            .limit(limit)
        )
        return [doc async for doc in cursor]


def contiguous(docs: list[Document], start: int) -> list[str]:
    """The hashes of ``docs`` (sorted by seq) while their seqs run on from ``start``."""
    found: list[str] = []
    for doc in docs:
        if doc["seq"] != start + len(found):
            break
        found.append(str(doc["hash"]))
    return found
