"""Audit use cases: append every consumed message once; verify; the patient's view; search."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.audit import sources
from services.audit.chain import Breach, verify_all
from services.audit.repository import AuditLog
from shared.consumer import parse_envelope
from shared.deadletter import SourceMessage
from shared.events import utcnow
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass
class Deps:
    log: AuditLog
    clock: Callable[[], datetime] = utcnow


async def on_event(deps: Deps, kind: str, source: SourceMessage) -> None:
    """An access, consent, hospital or security event: into its partition's chain, once.

    An unreadable envelope raises ``Rejected`` (the guard sets it aside on the
    dead-letter topic, which audit also records), so nothing vanishes.
    """
    entry = sources.from_envelope(kind, source.partition, parse_envelope(source))
    if not await deps.log.append(entry):
        log.info("duplicate event ignored", event_id=entry.event_id, chain=entry.chain)


async def on_dead_letter(deps: Deps, source: SourceMessage) -> None:
    """A message some service set aside. Never rejects (that would loop back here)."""
    entry = sources.from_dead_letter(source, deps.clock())
    if not await deps.log.append(entry):
        log.info("duplicate dead letter ignored", event_id=entry.event_id)


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


async def who_looked(log_: AuditLog, cid: str, skip: int, limit: int) -> list[dict[str, Any]]:
    return [access_entry(doc) for doc in await log_.for_patient(cid, skip, limit)]


async def verify(log_: AuditLog) -> list[Breach]:
    """Recompute every chain against its stored tip; the first breach of each."""
    records, tips = await log_.snapshot()
    return verify_all(records, tips=tips)
