"""Query storage: a port per concern, its MongoDB implementation and an in-memory fake.

- ``LicenceRegistry`` (``licences``): the local mirror of the Medical Council's
  licences, PINs only as argon2id hashes; the seam for a real registry.
- ``Rosters`` (``rosters``): the physicians each hospital's staff let act for it.
- ``SignInFailures``: failed sign-ins and the lockout, in ``lockout.py``.
- ``BreakGlassLog`` (``break_glass``): one declared emergency per (licence,
  hospital, patient); declaring again renews it.
- ``Charts``: the read model of stored records, and where each resource lives
  (``locate``, for reads by id); implemented in ``chartstore.py`` (pure parts:
  ``chartparts.py``).

The consent projection is ``shared.projections.ConsentProjection``. The ``Memory*``
fakes, after the MongoDB classes, keep the same rules over dicts for unit tests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from services.query.access import BreakGlass
from services.query.chartparts import ChartIndex, digest_of
from services.query.charts import Entry, combine, entry_of, landing, ranks_of
from services.query.chartstore import SUPERSEDED_GRACE_S
from shared.database import Document
from shared.events import StoredRecord


class LicenceRegistry(Protocol):
    async def put(self, licence: str, name: str, pin_hash: str, active: bool = True) -> None: ...
    async def get(self, licence: str) -> Document | None: ...


class Rosters(Protocol):
    """``add`` is True when the licence was not on the roster, ``remove`` when it was."""

    async def add(self, hospital: str, licence: str, at: datetime) -> bool: ...
    async def remove(self, hospital: str, licence: str) -> bool: ...
    async def is_on(self, hospital: str, licence: str) -> bool: ...
    async def list(self, hospital: str) -> list[str]: ...


class BreakGlassLog(Protocol):
    async def declare(
        self, licence: str, hospital: str, cid: str, reason: str, at: datetime, until: datetime
    ) -> None: ...
    async def active(
        self, licence: str, hospital: str, cid: str, now: datetime
    ) -> BreakGlass | None: ...


class Charts(Protocol):
    """Charts per (patient, source hospital). ``merge`` takes ``records.stored`` records
    and ``listed``, the chart's index entry read before; ``index`` lists per source the
    chart's ``digest`` and size ``n``; ``sweep`` deletes what merges superseded more
    than ``grace_s`` ago. The implementation: ``chartstore.ChartStore``."""

    async def merge(
        self, cid: str, hospital: str, records: list[StoredRecord], listed: dict[str, Any] | None
    ) -> str: ...
    async def index(self, cid: str) -> ChartIndex: ...
    async def indexes(self, cids: list[str]) -> dict[str, ChartIndex]: ...
    async def entries(self, cid: str, index: ChartIndex, sources: list[str]) -> list[Entry]: ...
    async def sweep(self, grace_s: float = SUPERSEDED_GRACE_S) -> int: ...
    async def locate(self, ref: str) -> list[tuple[str, str]]: ...


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


class MongoRosters:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.rosters

    async def add(self, hospital: str, licence: str, at: datetime) -> bool:
        result = await self._coll.update_one(
            {"_id": f"{hospital}:{licence}"},
            {"$set": {"hospital": hospital, "licence": licence, "active": True, "since": at}},
            upsert=True,
        )
        return result.upserted_id is not None or result.modified_count == 1

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


class MongoBreakGlassLog:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.break_glass

    async def declare(
        self, licence: str, hospital: str, cid: str, reason: str, at: datetime, until: datetime
    ) -> None:
        await self._coll.update_one(
            {"_id": f"{licence}|{hospital}|{cid}"},
            {"$set": {"licence": licence, "hospital": hospital, "patient": cid,
                      "reason": reason, "declared_at": at, "until": until}},
            upsert=True,
        )  # fmt: skip

    async def active(
        self, licence: str, hospital: str, cid: str, now: datetime
    ) -> BreakGlass | None:
        doc = await self._coll.find_one({"_id": f"{licence}|{hospital}|{cid}"})
        if doc is None or doc["until"] <= now:
            return None
        return BreakGlass(reason=str(doc["reason"]), until=doc["until"])


class MemoryLicenceRegistry:
    def __init__(self) -> None:
        self.licences: dict[str, Document] = {}

    async def put(self, licence: str, name: str, pin_hash: str, active: bool = True) -> None:
        self.licences[licence] = {"_id": licence, "name": name, "pin_hash": pin_hash,
                                  "active": active}  # fmt: skip

    async def get(self, licence: str) -> Document | None:
        return dict(self.licences[licence]) if licence in self.licences else None


class MemoryRosters:
    def __init__(self) -> None:
        self.on: set[tuple[str, str]] = set()

    async def add(self, hospital: str, licence: str, at: datetime) -> bool:
        added = (hospital, licence) not in self.on
        self.on.add((hospital, licence))
        return added

    async def remove(self, hospital: str, licence: str) -> bool:
        removed = (hospital, licence) in self.on
        self.on.discard((hospital, licence))
        return removed

    async def is_on(self, hospital: str, licence: str) -> bool:
        return (hospital, licence) in self.on

    async def list(self, hospital: str) -> list[str]:
        return sorted(licence for code, licence in self.on if code == hospital)


class MemoryBreakGlassLog:
    def __init__(self) -> None:
        self.declared: dict[tuple[str, str, str], BreakGlass] = {}

    async def declare(
        self, licence: str, hospital: str, cid: str, reason: str, at: datetime, until: datetime
    ) -> None:
        self.declared[(licence, hospital, cid)] = BreakGlass(reason, until)

    async def active(
        self, licence: str, hospital: str, cid: str, now: datetime
    ) -> BreakGlass | None:
        glass = self.declared.get((licence, hospital, cid))
        return glass if glass is not None and glass.until > now else None


class MemoryCharts:
    """Charts as one entry list per (patient, source), merged by rank like ``ChartStore``."""

    def __init__(self) -> None:
        self.charts: dict[str, dict[str, list[Entry]]] = {}

    async def merge(
        self, cid: str, hospital: str, records: list[StoredRecord], listed: dict[str, Any] | None
    ) -> str:
        chart = self.charts.setdefault(cid, {}).get(hospital, [])
        fresh = landing(ranks_of(chart), [entry_of(record, hospital) for record in records])
        self.charts[cid][hospital] = combine([chart, fresh])
        return str((await self.index(cid))[hospital]["digest"])

    async def index(self, cid: str) -> ChartIndex:
        charts = self.charts.get(cid, {}).items()
        return {source: {"digest": digest_of([f"{e['id']}@{e['rank']}" for e in chart]),
                         "n": len(chart)} for source, chart in charts}  # fmt: skip

    async def indexes(self, cids: list[str]) -> dict[str, ChartIndex]:
        return {cid: await self.index(cid) for cid in cids}

    async def entries(self, cid: str, index: ChartIndex, sources: list[str]) -> list[Entry]:
        charts = self.charts.get(cid, {})
        return [entry for source in sources for entry in charts.get(source, [])]

    async def sweep(self, grace_s: float = SUPERSEDED_GRACE_S) -> int:
        return 0  # nothing is superseded: a merge replaces the list

    async def locate(self, ref: str) -> list[tuple[str, str]]:
        rtype, _, rid = ref.partition("/")
        return [(cid, source) for cid, charts in sorted(self.charts.items())
                for source, chart in sorted(charts.items())
                if any(e["type"] == rtype and e["id"] == rid for e in chart)]  # fmt: skip
