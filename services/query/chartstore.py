"""The query service's read model of stored records: charts, an index, and a cache.

Why a read model: reading 1,000 records one document each from FerretDB takes
~0.5 s; one compressed chart per (patient, source) reads in a few milliseconds and
a digest-checked in-process cache makes a repeat read cost one tiny index lookup.

Charts are built from ingest's ``records.stored`` events (``INGEST_STORED``), never
from ingest's database: each event's records are merged into the (patient, source)
chart, keeping per resource the entry with the highest ``rank`` (ingest's version
order), so applying an event twice, or out of order, gives the same chart (same
digest), and replaying ``INGEST_STORED`` rebuilds every chart. A merge moves the
index only if it still lists the version merged into (another instance may be
merging during a rebalance); otherwise it reads the index again and retries.

Chart versions are immutable: a merge inserts the new version and then moves the
index to it (a conditional update on the digest it merged into); superseded
versions are deleted a little later (``sweep``). No chart document is ever
updated in place: on FerretDB an update first scans the collection, and a scan
of large chart bodies costs far more than an insert.

- ``charts``: ``_id "{cid}|{hospital}|{digest}"``, ``patient``, ``hospital``,
  ``digest``, ``n``, ``body`` (zlib JSON entries).
- ``chart_index``: ``_id cid``, ``charts: {hospital: {"digest", "n"}}``: the
  current version of each chart.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

import orjson
from bson import Binary
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.query.charts import Entry, entry_of, merge_entries
from shared.database import Document
from shared.errors import Transient

ChartIndex = dict[str, dict[str, Any]]
MERGE_ATTEMPTS = 5
SUPERSEDED_GRACE_S = 30.0  # readers holding an older index get this long to read its chart


def chart_id(cid: str, hospital: str) -> str:
    return f"{cid}|{hospital}"


def version_id(cid: str, hospital: str, digest: str) -> str:
    return f"{cid}|{hospital}|{digest}"


def pack(entries: list[Entry]) -> tuple[bytes, str]:
    """Compressed body and its digest (same entries -> same digest)."""
    raw = orjson.dumps(entries)
    return zlib.compress(raw, 1), hashlib.sha256(raw).hexdigest()[:24]


def unpack(body: bytes) -> list[Entry]:
    entries: list[Entry] = orjson.loads(zlib.decompress(body))
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


class VersionGone(LookupError):
    """The chart version an index listed is not stored (superseded and swept)."""


class ChartUnavailable(RuntimeError):
    """No merge could settle on a stored version (not transient: the Guard sets it aside)."""


class ChartStore:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        cache: ChartCache,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._charts = db.charts
        self._index = db.chart_index
        self._cache = cache
        self._clock = clock
        self._superseded: deque[tuple[float, str]] = deque()

    async def merge(
        self, cid: str, hospital: str, records: list[Document], listed: dict[str, Any] | None
    ) -> str:
        """Merge ``records.stored`` records into the chart of ``cid`` from ``hospital``.

        ``listed`` is what the index said of this chart when the batch began; a retry
        (another merge moved the index on meanwhile) reads the index again.
        """
        incoming = [entry_of(record, hospital) for record in records]
        for attempt in range(MERGE_ATTEMPTS):
            if attempt:
                listed = (await self.index(cid)).get(hospital)
            old = str(listed["digest"]) if listed else None
            try:
                entries = await self._chart(cid, hospital, old) if old else []
            except VersionGone:
                continue  # superseded and swept since the index was read: read it again
            merged = merge_entries(entries, incoming)
            if merged is None:
                return old or ""
            body, digest = pack(merged)
            await self._keep(cid, hospital, digest, body, len(merged))
            if not await self._point(cid, hospital, old, digest, len(merged)):
                continue  # another merge moved the index on: merge into its chart
            self._cache.put(chart_id(cid, hospital), digest, len(body) * 4, merged)
            if old is not None:
                self._superseded.append((self._clock(), version_id(cid, hospital, old)))
            return digest
        raise ChartUnavailable(f"chart {hospital} of a patient: no stable version to merge into")

    async def _keep(self, cid: str, hospital: str, digest: str, body: bytes, n: int) -> None:
        """Store a chart version (immutable; the same digest is the same content)."""
        doc = {"_id": version_id(cid, hospital, digest), "patient": cid, "hospital": hospital,
               "digest": digest, "n": n, "body": Binary(body)}  # fmt: skip
        with contextlib.suppress(DuplicateKeyError):  # this very version is stored already
            await self._charts.insert_one(doc)

    async def _point(self, cid: str, hospital: str, old: str | None, new: str, n: int) -> bool:
        """Point the index at version ``new`` unless another merge moved it from ``old``."""
        field = f"charts.{hospital}"
        update = {"$set": {field: {"digest": new, "n": n}}}
        if old is None:
            try:
                result = await self._index.update_one(
                    {"_id": cid, field: {"$exists": False}}, update, upsert=True
                )
            except DuplicateKeyError:
                return False  # the patient's index exists and lists this chart now
            return result.matched_count == 1 or result.upserted_id is not None
        result = await self._index.update_one({"_id": cid, f"{field}.digest": old}, update)
        return result.matched_count == 1

    async def _chart(self, cid: str, hospital: str, digest: str) -> list[Entry]:
        """The entries of one chart version (cache first)."""
        key = chart_id(cid, hospital)
        cached = self._cache.get(key, digest)
        if cached is not None:
            return cached
        doc = await self._charts.find_one({"_id": version_id(cid, hospital, digest)})
        if doc is None:
            raise VersionGone(key)
        body = bytes(doc["body"])
        entries = unpack(body)
        self._cache.put(key, digest, len(body) * 4, entries)
        return entries

    async def sweep(self, grace_s: float = SUPERSEDED_GRACE_S) -> int:
        """Delete chart versions superseded more than ``grace_s`` ago; how many."""
        due = []
        while self._superseded and self._superseded[0][0] <= self._clock() - grace_s:
            due.append(self._superseded.popleft()[1])
        if due:
            await self._charts.delete_many({"_id": {"$in": due}})
        return len(due)

    async def indexes(self, cids: list[str]) -> dict[str, ChartIndex]:
        """The chart index of several patients in one read."""
        found = {doc["_id"]: doc async for doc in self._index.find({"_id": {"$in": cids}})}
        return {cid: dict(found[cid].get("charts", {})) if cid in found else {} for cid in cids}

    async def index(self, cid: str) -> ChartIndex:
        """Which sources hold records for ``cid``, with each chart's digest and size."""
        doc = await self._index.find_one({"_id": cid})
        charts: ChartIndex = dict(doc.get("charts", {})) if doc else {}
        return charts

    async def entries(self, cid: str, index: ChartIndex, sources: list[str]) -> list[Entry]:
        """The entries of ``cid``'s charts from ``sources`` (cache first).

        A version superseded and swept between reading the index and the chart is
        read again from a fresh index.
        """
        found: list[Entry] = []
        for source in sources:
            try:
                found.extend(await self._chart(cid, source, str(index[source]["digest"])))
            except VersionGone:
                fresh = (await self.index(cid)).get(source)
                if fresh is None:
                    continue
                try:
                    found.extend(await self._chart(cid, source, str(fresh["digest"])))
                except VersionGone as exc:
                    raise Transient("a chart is being replaced; try again") from exc
        return found
