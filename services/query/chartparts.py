"""How a chart is stored, purely: its parts and their ids, what the index lists, when parts
are folded, how entries are packed, and the cache of decoded charts and parts.

``chartstore.py`` (``ChartStore``) does the I/O with these; its docstring describes the
collections.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import OrderedDict
from typing import Any

import orjson

from services.query.charts import Entry

ChartIndex = dict[str, dict[str, Any]]
# A chart is stored in parts: each merge adds a part holding only what changed, and
# every this-many merges the parts are folded into one (so a merge costs the size
# of the upload, not of the chart, and a read combines a few parts at most).
PARTS_BEFORE_COMPACTION = 8
PART = "part"  # cache "digest" of a part: parts never change


def locations_of(cid: str, hospital: str, part: str, refs: list[str]) -> dict[str, Any]:
    """A ``resource_locations`` document: the resources a merge brought to a chart."""
    return {"_id": version_id(cid, hospital, part), "refs": refs, "patient": cid,
            "hospital": hospital}  # fmt: skip


def chart_id(cid: str, hospital: str) -> str:
    return f"{cid}|{hospital}"


def version_id(cid: str, hospital: str, part: str) -> str:
    return f"{cid}|{hospital}|{part}"


def parts_of(listed: dict[str, Any] | None) -> list[str]:
    """The part ids an index entry lists (a one-part chart may list only its digest)."""
    if not listed:
        return []
    parts = listed.get("parts")
    return [str(p) for p in parts] if isinstance(parts, list) else [str(listed["digest"])]


def sizes_of(listed: dict[str, Any] | None) -> list[int]:
    """Entries per part, as the index lists them (older listings: the chart's size)."""
    if not listed:
        return []
    sizes = listed.get("sizes")
    if isinstance(sizes, list) and len(sizes) == len(parts_of(listed)):
        return [int(n) for n in sizes]
    return [int(listed.get("n", 0))] * len(parts_of(listed))


def folding(parts: list[str], sizes: list[int], adding: int) -> tuple[int, list[str]]:
    """How many leading parts a merge keeps, and which it folds with the new entries.

    Below ``PARTS_BEFORE_COMPACTION`` parts nothing is folded. Then the parts after the
    first are folded together while they hold fewer entries than the first; once
    they would outgrow it, everything is folded into one. Each entry is rewritten a
    few times over a chart's life, not once per merge.
    """
    if len(parts) < PARTS_BEFORE_COMPACTION:
        return len(parts), []
    if sum(sizes[1:]) + adding < sizes[0]:
        return 1, parts[1:]
    return 0, parts


def digest_of(parts: list[str]) -> str:
    """A chart's digest: which parts it is made of (parts never change)."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def size_of(entries: list[Entry]) -> int:
    """Roughly the bytes a decoded chart takes in memory (for the cache's budget)."""
    return sum(len(e["json"]) + 400 for e in entries)


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
