"""``MemoryAuditLog``, the in-memory fake of the ``AuditLog`` port (``repository.py``) for
unit tests: the same chains, tips, once-only rule and order, over dicts."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from services.audit.chain import ChainTip, next_record, tip_of
from services.audit.repository import Chains, contiguous, record_key, wanted
from services.audit.sources import Entry
from shared.database import Document
from shared.events import utcnow


class MemoryAuditLog:
    """The ``AuditLog`` port over a dict.

    ``records`` (by ``_id``), ``chain_tips`` and ``stored_heads`` are public so tests can
    tamper with them.
    """

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.records: dict[str, Document] = {}
        self.chain_tips: dict[str, ChainTip] = {}
        self.stored_heads: dict[str, Document] = {}
        self.arrivals: dict[str, datetime] = {}
        self._clock = clock

    async def append(self, entry: Entry) -> bool:
        if any(r.get("event_id") == entry.event_id for r in self.records.values()):
            return False
        tip = self.chain_tips.get(entry.chain)
        index = copy.deepcopy(entry.index)
        record = next_record(entry.chain, tip, entry.event_id, entry.body, index)
        record["_id"] = record_key(entry.chain, record["seq"])
        self.arrivals[record["_id"]] = self._clock()
        self.records[record["_id"]] = copy.deepcopy(record)
        self.chain_tips[entry.chain] = tip_of(record)
        return True

    async def snapshot(self) -> tuple[Chains, dict[str, ChainTip]]:
        found: Chains = {}
        for doc in sorted(self.records.values(), key=lambda d: (d["chain"], d["seq"])):
            found.setdefault(doc["chain"], []).append(copy.deepcopy(doc))
        return found, dict(self.chain_tips)

    async def search(
        self,
        criteria: Mapping[str, Any],
        since: datetime | None,
        until: datetime | None,
        skip: int,
        limit: int,
    ) -> list[Document]:
        chosen = wanted(criteria)
        found = [
            {k: v for k, v in copy.deepcopy(doc).items() if k != "prev_hash"}
            for doc in self.records.values()
            if all(doc.get(k) == v for k, v in chosen.items())
            and (since is None or doc["time"] >= since)
            and (until is None or doc["time"] < until)
        ]
        found.sort(key=lambda d: (d["time"], d["_id"]), reverse=True)
        return found[skip : skip + limit]

    async def hashes(self, chain: str, start: int, end: int) -> list[str]:
        docs = sorted(
            (d for d in self.records.values() if d["chain"] == chain and start <= d["seq"] < end),
            key=lambda d: d["seq"],
        )
        return contiguous(docs, start)

    async def records_of(self, criteria: Mapping[str, Any], limit: int) -> list[Document]:
        found = [
            copy.deepcopy(d)
            for d in self.records.values()
            if all(d.get(k) == v for k, v in criteria.items())
        ]
        found.sort(key=lambda d: (d["chain"], d["seq"]))
        return found[:limit]

    async def add_head(self, head: Document) -> None:
        key = f"{head['chain']}:{int(head['tree_size']):012d}"
        self.stored_heads.setdefault(key, {"_id": key, **copy.deepcopy(head)})

    async def heads(self) -> list[Document]:
        return [copy.deepcopy(h) for h in self.stored_heads.values()]

    async def tips(self) -> dict[str, ChainTip]:
        return dict(self.chain_tips)
