"""The query service's read model of stored records: charts, an index, and a cache.

Why a read model: reading 1,000 records straight from the ingest ``records``
collection on FerretDB takes ~0.5 s; one compressed chart per (patient, source)
reads in a few milliseconds and a digest-checked in-process cache makes a repeat
read cost one tiny index lookup. The ingest store stays the source of truth: a
chart is rebuilt from it (read-only) whenever ``records.received`` says that
patient's records from that hospital changed, so replaying ``INGEST_RECORDS``
rebuilds every chart, and rebuilding twice gives the same chart (same digest).

- ``charts``: ``_id "{cid}|{hospital}"``, ``digest``, ``n``, ``body`` (zlib JSON entries),
  ``uploads`` (the upload ids the rebuild saw: a ``records.received`` for one of them
  needs no rebuild, so a burst of uploads for one patient costs one rebuild, not one each).
- ``chart_index``: ``_id cid``, ``charts: {hospital: {"digest", "n"}}``.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import OrderedDict
from typing import Any

from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.query.charts import Entry, entry_of, newest_first
from shared.database import Document

ChartIndex = dict[str, dict[str, Any]]


def chart_id(cid: str, hospital: str) -> str:
    return f"{cid}|{hospital}"


def pack(entries: list[Entry]) -> tuple[bytes, str]:
    """Compressed body and its digest (same entries -> same digest)."""
    raw = json.dumps(entries, ensure_ascii=False, separators=(",", ":")).encode()
    return zlib.compress(raw, 1), hashlib.sha256(raw).hexdigest()[:24]


def unpack(body: bytes) -> list[Entry]:
    entries: list[Entry] = json.loads(zlib.decompress(body))
    return entries


class ChartCache:
    """Decoded charts by id and digest, least recently used dropped past a byte budget."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._used = 0
        self._items: OrderedDict[str, tuple[str, int, list[Entry]]] = OrderedDict()

    def get(self, key: str, digest: str) -> list[Entry] | None:
        item = self._items.get(key)
        if item is None or item[0] != digest:
            return None
        self._items.move_to_end(key)
        return item[2]

    def put(self, key: str, digest: str, size: int, entries: list[Entry]) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._used -= old[1]
        if size > self._max:
            return
        self._items[key] = (digest, size, entries)
        self._used += size
        while self._used > self._max:
            _, (_, dropped, _) = self._items.popitem(last=False)
            self._used -= dropped


class ChartStore:
    def __init__(
        self, db: AsyncDatabase[Document], records: AsyncCollection[Document], cache: ChartCache
    ) -> None:
        self._charts = db.charts
        self._index = db.chart_index
        self._records = records
        self._cache = cache

    async def covers(self, cid: str, hospital: str, upload_id: str) -> bool:
        """Whether the chart was already rebuilt from a read that saw ``upload_id``."""
        found = await self._charts.find_one(
            {"_id": chart_id(cid, hospital), "uploads": upload_id}, {"_id": 1}
        )
        return found is not None

    async def rebuild(self, cid: str, hospital: str) -> str:
        """Rebuild the chart of ``cid`` from ``hospital`` from the ingest store; its digest."""
        cursor = self._records.find({"patient": cid, "hospital": hospital}, {"rank": 0})
        docs = [doc async for doc in cursor]
        entries = newest_first([entry_of(doc) for doc in docs])
        uploads = sorted({str(doc["upload_id"]) for doc in docs if doc.get("upload_id")})
        body, digest = pack(entries)
        await self._charts.replace_one(
            {"_id": chart_id(cid, hospital)},
            {"patient": cid, "hospital": hospital, "digest": digest, "n": len(entries),
             "body": Binary(body), "uploads": uploads},
            upsert=True,
        )  # fmt: skip
        await self._index.update_one(
            {"_id": cid},
            {"$set": {f"charts.{hospital}": {"digest": digest, "n": len(entries)}}},
            upsert=True,
        )
        return digest

    async def index(self, cid: str) -> ChartIndex:
        """Which sources hold records for ``cid``, with each chart's digest and size."""
        doc = await self._index.find_one({"_id": cid})
        charts: ChartIndex = dict(doc.get("charts", {})) if doc else {}
        return charts

    async def entries(self, cid: str, index: ChartIndex, sources: list[str]) -> list[Entry]:
        """The entries of ``cid``'s charts from ``sources`` (cache first)."""
        found: list[Entry] = []
        missing: list[str] = []
        for source in sources:
            key = chart_id(cid, source)
            cached = self._cache.get(key, str(index[source]["digest"]))
            if cached is None:
                missing.append(key)
            else:
                found.extend(cached)
        if missing:
            async for doc in self._charts.find({"_id": {"$in": missing}}):
                body = bytes(doc["body"])
                entries = unpack(body)
                self._cache.put(doc["_id"], doc["digest"], len(body) * 4, entries)
                found.extend(entries)
        return found
