"""Audit use cases: record every consumed message once; verify; the patient's view; search."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.audit import fhir, sources
from services.audit.errors import BadTime
from services.audit.repository import AuditLog
from services.audit.verification import Breach, verify_all
from shared.deadletter import SourceMessage
from shared.events import Envelope, utcnow
from shared.logging import get_logger

log = get_logger(__name__)
CRITERIA = ("physician", "patient", "hospital", "decision", "kind")  # exact fields of a Search


@dataclass
class Deps:
    log: AuditLog
    clock: Callable[[], datetime] = utcnow


@dataclass(frozen=True)
class Search:
    """An auditor's query: exact fields, a time window (ISO-8601 text), a page."""

    physician: str | None = None
    patient: str | None = None
    hospital: str | None = None
    decision: str | None = None
    kind: str | None = None
    since: str | None = None
    until: str | None = None
    offset: int = 0
    count: int = 50


@dataclass(frozen=True)
class Verification:
    """How many records were checked, and the first breach of each broken chain."""

    checked: int
    breaches: list[Breach] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaches


async def record_event(deps: Deps, kind: str, partition: int, event: Envelope) -> bool:
    """An access, consent, hospital or security event into its partition's chain, once."""
    entry = sources.from_envelope(kind, partition, event)
    stored = await deps.log.append(entry)
    if not stored:
        log.info("duplicate event ignored", event_id=entry.event_id, chain=entry.chain)
    return stored


async def record_dead_letter(deps: Deps, source: SourceMessage) -> bool:
    """A message some service set aside: its metadata and a digest, once."""
    entry = sources.from_dead_letter(source, deps.clock())
    stored = await deps.log.append(entry)
    if not stored:
        log.info("duplicate dead letter ignored", event_id=entry.event_id)
    return stored


async def verify_log(deps: Deps) -> Verification:
    """Recompute every chain against its tip; the first breach of each."""
    records, tips = await deps.log.snapshot()
    checked = sum(len(chain) for chain in records.values())
    return Verification(checked, verify_all(records, tips=tips))


async def read_accesses(deps: Deps, cid: str, offset: int, count: int) -> list[dict[str, Any]]:
    """Who looked at the patient's record (allowed and denied), newest first."""
    criteria = {"kind": "access", "patient": cid}
    return [access_entry(d) for d in await deps.log.search(criteria, None, None, offset, count)]


async def search_records(deps: Deps, query: Search) -> list[dict[str, Any]]:
    """The records an auditor asked for, each with its place in its chain."""
    return [search_entry(doc) for doc in await _found(deps, query)]


async def export_audit_events(deps: Deps, query: Search) -> dict[str, Any]:
    """The same search as a FHIR R4 searchset Bundle of AuditEvents (IHE BALP)."""
    return fhir.bundle(await _found(deps, query))


async def _found(deps: Deps, query: Search) -> list[dict[str, Any]]:
    criteria = {name: getattr(query, name) for name in CRITERIA}
    since, until = _bound(query.since, "since"), _bound(query.until, "until")
    return await deps.log.search(criteria, since, until, query.offset, query.count)


def _bound(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    parsed = sources.parse_time(value)
    if parsed is None:
        raise BadTime(name)
    return parsed


def access_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """One line of "who looked at my record"."""
    data = doc["body"].get("data", {})
    return {
        "id": doc["event_id"],
        "time": data.get("time") or doc["body"].get("time"),
        "physician": data.get("physician"),
        "physician_name": data.get("physician_name"),
        "hospital": data.get("hospital"),
        "purpose": data.get("purpose"),
        "categories": data.get("categories", []),
        "decision": data.get("decision"),
        "reason": data.get("reason"),
        "break_glass": bool(data.get("break_glass", False)),
        "break_glass_reason": data.get("break_glass_reason"),
        "count": data.get("count", 0),
    }


def search_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """A record as auditors see it: where it sits in which chain, and what it says."""
    time = doc.get("time")
    return {
        "id": doc["event_id"],
        "chain": doc["chain"],
        "seq": doc["seq"],
        "hash": doc["hash"],
        "kind": doc.get("kind"),
        "type": doc.get("type"),
        "time": time.isoformat() if isinstance(time, datetime) else time,
        "patient": doc.get("patient"),
        "physician": doc.get("physician"),
        "hospital": doc.get("hospital"),
        "decision": doc.get("decision"),
        "body": doc["body"],
    }
