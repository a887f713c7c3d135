"""The query service's read model of stored records: charts, an index, and a cache.

Why a read model: reading 1,000 records one document each from FerretDB takes
~0.5 s; one compressed chart per (patient, source) reads in a few milliseconds and
a digest-checked in-process cache makes a repeat read cost one tiny index lookup.

Charts are built from ingest's ``records.stored`` events (``INGEST_STORED``), never
from ingest's database: each event's records are merged into the (patient, source)
chart, keeping per resource the entry with the highest ``rank`` (ingest's version
order), so applying an event twice, or out of order, changes nothing more, and
replaying ``INGEST_STORED`` rebuilds every chart.

A chart is stored in immutable parts: a merge inserts one part holding only the
entries that changed, then moves the index to the new list of parts with a
conditional update on the digest it merged into (another instance may be merging
during a rebalance: then it reads the index again and retries). Past
``PARTS_BEFORE_COMPACTION`` parts, the recent parts are folded into one (all of
them once they outgrow the first, see ``chartparts.folding``), and folded parts are deleted a
little later (``sweep``), once readers holding the older index are done. No chart
document is ever updated in place: on FerretDB an update first scans the
collection, and rewriting a whole chart per upload costs its size.

- ``charts`` (the parts): ``_id "{cid}|{hospital}|{part id}"``, ``patient``,
  ``hospital``, ``digest``, ``n``, ``body`` (zlib JSON entries).
- ``chart_index``: ``_id cid``, ``charts: {hospital: {"digest", "n", "parts",
  "sizes"}}``: the current parts of each chart (and entries in each), the chart's
  size, and a digest naming the parts.
- ``resource_locations``: ``_id "{cid}|{hospital}|{part id}"``, ``refs ["{type}/{id}",
  ...]``, ``patient``, ``hospital``: where resources read by id live, one document per
  merge listing the resources it brought to the chart (inserted, never updated; a
  resource's patient and source never change), before the merge moves the index: a
  merge that loses the race writes one more (a read by id still finds the resource
  in its chart or not at all), one that dies after moving it is not left unlocated.
  Found by an array element (``{"refs": ref}``: FerretDB's ``@>`` pushdown, a GIN
  index). One document per
  resource before (``_id "{hospital}/{type}/{id}"``, ``ref``): a bulk load's inserts
  doubled, as many locations as records; those are still read when no list names the
  resource. Charts merged before locations existed need a replay (``healthlink replay
  query --from-beginning --fresh-db``) to be read by id.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from bson import Binary
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.query.chartparts import (
    PART,
    ChartCache,
    ChartIndex,
    chart_id,
    digest_of,
    folding,
    locations_of,
    pack,
    parts_of,
    size_of,
    sizes_of,
    unpack,
    version_id,
)
from services.query.charts import Entry, Ranks, combine, entry_of, landing, ranks_of
from shared.database import Document
from shared.errors import Transient
from shared.events import StoredRecord

MERGE_ATTEMPTS = 5
RANKED_CHARTS = 5_000  # charts whose resource ranks a merge remembers (for the next merge)
SUPERSEDED_GRACE_S = 30.0  # readers holding an older index get this long to read its chart
BY_ID_AT_ONCE = 8  # reads or deletes by _id in flight (FerretDB stalls near 50 writes)


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
        self._locations = db.resource_locations
        self._cache = cache
        self._clock = clock
        self._superseded: deque[tuple[float, str]] = deque()
        self._known: OrderedDict[str, tuple[str, Ranks]] = OrderedDict()

    async def merge(
        self, cid: str, hospital: str, records: list[StoredRecord], listed: dict[str, Any] | None
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
            parts, sizes = parts_of(listed), sizes_of(listed)
            try:
                held = await self._ranks(cid, hospital, old, parts) if old else {}
                fresh = landing(held, incoming)
                if not fresh:
                    return old or ""
                kept, folded = folding(parts, sizes, len(fresh))
                content = fresh
                if folded:
                    content = combine([*await self._parts(cid, hospital, folded), fresh])
            except VersionGone:
                continue  # folded and swept since the index was read: read it again
            ranks = {**held, **ranks_of(fresh)}
            part = uuid.uuid4().hex
            await self._keep(cid, hospital, part, content)
            # located before the index moves: a redelivery after a crash finds them held
            new = [e for e in fresh if (e["type"], e["id"]) not in held]
            await self._locate(cid, hospital, part, new)
            new_parts = [*parts[:kept], part]
            new_sizes = [*sizes[:kept], len(content)]
            digest = digest_of(new_parts)
            if not await self._point(cid, hospital, old, digest, len(ranks), new_parts, new_sizes):
                self._retire(cid, hospital, [part])  # never listed: nobody reads it
                continue  # another merge moved the index on: merge into its chart
            self._remember(chart_id(cid, hospital), digest, ranks)
            self._retire(cid, hospital, folded)
            return digest
        raise ChartUnavailable(f"chart {hospital} of a patient: no stable version to merge into")

    async def _locate(self, cid: str, hospital: str, part: str, new: list[Entry]) -> None:
        """Record where resources new to a chart live: one document for the merge."""
        if new:
            refs = [f"{e['type']}/{e['id']}" for e in new]
            await self._locations.insert_one(locations_of(cid, hospital, part, refs))

    async def locate(self, ref: str) -> list[tuple[str, str]]:
        """Where ``{type}/{id}`` lives: (patient, source hospital) pairs."""
        found = await self._owners({"refs": ref})
        return found or await self._owners({"ref": ref})  # located one by one before

    async def _owners(self, query: dict[str, str]) -> list[tuple[str, str]]:
        cursor = self._locations.find(query, {"patient": 1, "hospital": 1})
        return sorted({(str(d["patient"]), str(d["hospital"])) async for d in cursor})

    def _retire(self, cid: str, hospital: str, parts: list[str]) -> None:
        now = self._clock()
        self._superseded.extend((now, version_id(cid, hospital, part)) for part in parts)

    async def _keep(self, cid: str, hospital: str, part: str, entries: list[Entry]) -> None:
        """Store one part of a chart (immutable, under a fresh id)."""
        body, digest = pack(entries)
        key = version_id(cid, hospital, part)
        doc = {"_id": key, "patient": cid, "hospital": hospital,
               "digest": digest, "n": len(entries), "body": Binary(body)}  # fmt: skip
        await self._charts.insert_one(doc)
        self._cache.put(key, PART, size_of(entries), entries)

    def _remember(self, key: str, digest: str, ranks: Ranks) -> None:
        self._known[key] = (digest, ranks)
        self._known.move_to_end(key)
        while len(self._known) > RANKED_CHARTS:
            self._known.popitem(last=False)

    async def _ranks(self, cid: str, hospital: str, digest: str, parts: list[str]) -> Ranks:
        """Each resource's rank in a chart (remembered from the last merge, else read)."""
        known = self._known.get(chart_id(cid, hospital))
        if known is not None and known[0] == digest:
            return known[1]
        ranks = ranks_of(await self._combined(cid, hospital, digest, parts))
        self._remember(chart_id(cid, hospital), digest, ranks)
        return ranks

    async def _point(
        self,
        cid: str,
        hospital: str,
        old: str | None,
        new: str,
        n: int,
        parts: list[str],
        sizes: list[int],
    ) -> bool:
        """Point the index at ``parts`` unless another merge moved it from ``old``."""
        field = f"charts.{hospital}"
        update = {"$set": {field: {"digest": new, "n": n, "parts": parts, "sizes": sizes}}}
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

    async def _combined(
        self, cid: str, hospital: str, digest: str, parts: list[str]
    ) -> list[Entry]:
        """The entries of one chart (cache first, else its parts combined)."""
        key = chart_id(cid, hospital)
        cached = self._cache.get(key, digest)
        if cached is not None:
            return cached
        entries = combine(await self._parts(cid, hospital, parts))
        self._cache.put(key, digest, size_of(entries), entries)
        return entries

    async def _parts(self, cid: str, hospital: str, parts: list[str]) -> list[list[Entry]]:
        """The entries of each part (cache first)."""
        loaded = []
        for part in parts:
            part_key = version_id(cid, hospital, part)
            entries = self._cache.get(part_key, PART)
            if entries is None:
                doc = await self._charts.find_one({"_id": part_key})
                if doc is None:
                    raise VersionGone(chart_id(cid, hospital))
                entries = unpack(bytes(doc["body"]))
                self._cache.put(part_key, PART, size_of(entries), entries)
            loaded.append(entries)
        return loaded

    async def sweep(self, grace_s: float = SUPERSEDED_GRACE_S) -> int:
        """Delete chart versions superseded more than ``grace_s`` ago; how many."""
        due = []
        while self._superseded and self._superseded[0][0] <= self._clock() - grace_s:
            due.append(self._superseded.popleft()[1])
        for at in range(0, len(due), BY_ID_AT_ONCE):  # by _id: FerretDB 1.24 scans on $in
            chunk = due[at : at + BY_ID_AT_ONCE]
            await asyncio.gather(*(self._charts.delete_one({"_id": key}) for key in chunk))
        return len(due)

    async def indexes(self, cids: list[str]) -> dict[str, ChartIndex]:
        """The chart index of several patients: one read by ``_id`` each, a few at a time
        (FerretDB 1.24 does not push ``$in`` down: one query would read the whole table)."""
        found: dict[str, ChartIndex] = {}
        for at in range(0, len(cids), BY_ID_AT_ONCE):
            chunk = cids[at : at + BY_ID_AT_ONCE]
            docs = await asyncio.gather(*map(self._index_doc, chunk))
            for cid, doc in zip(chunk, docs, strict=True):
                found[cid] = dict(doc.get("charts", {})) if doc else {}
        return {cid: found[cid] for cid in cids}

    async def _index_doc(self, cid: str) -> Document | None:
        return await self._index.find_one({"_id": cid})

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
            listed = index[source]
            try:
                found.extend(await self._combined(cid, source, str(listed["digest"]),
                                                  parts_of(listed)))  # fmt: skip
            except VersionGone:
                fresh = (await self.index(cid)).get(source)
                if fresh is None:
                    continue
                try:
                    found.extend(await self._combined(cid, source, str(fresh["digest"]),
                                                      parts_of(fresh)))  # fmt: skip
                except VersionGone as exc:
                    raise Transient("a chart is being compacted; try again") from exc
        return found
