"""Audit use cases: append every access event once; verify; the patient's view."""

from __future__ import annotations

from typing import Any

from services.audit.chain import Breach, verify_all
from services.audit.repository import AuditLog
from shared.consumer import parse_envelope
from shared.deadletter import SourceMessage
from shared.logging import get_logger

log = get_logger(__name__)


async def on_access_event(log_: AuditLog, source: SourceMessage) -> None:
    """Store the event in its partition's chain, once (redelivery changes nothing)."""
    event = parse_envelope(source)
    body = event.model_dump(mode="json")
    index = {
        "patient": event.data.get("patient") or event.subject,
        "physician": event.data.get("physician"),
        "hospital": event.data.get("hospital"),
        "decision": event.data.get("decision"),
        "time": body["time"],
        "type": event.type,
    }
    stored = await log_.append(f"p{source.partition}", event.id, body, index)
    if not stored:
        log.info("duplicate access event ignored", event_id=event.id)


def access_entry(body: dict[str, Any]) -> dict[str, Any]:
    data = body["data"]
    return {
        "time": body["time"],
        "physician": data.get("physician"),
        "physician_name": data.get("physician_name"),
        "hospital": data.get("hospital"),
        "categories": data.get("categories", []),
        "decision": data.get("decision"),
        "reason": data.get("reason"),
        "break_glass": data.get("break_glass", False),
        "count": data.get("count", 0),
    }


async def who_looked(log_: AuditLog, cid: str, skip: int, limit: int) -> list[dict[str, Any]]:
    return [access_entry(doc["body"]) for doc in await log_.for_patient(cid, skip, limit)]


async def verify(log_: AuditLog) -> list[Breach]:
    return verify_all(await log_.chains())
