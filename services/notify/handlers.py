"""Notify use cases: turn events into inbox entries, each exactly once."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from services.notify import texts
from services.notify.repository import Inbox
from shared.events import Envelope
from shared.projections import ConsentProjection


@dataclass
class Deps:
    inbox: Inbox
    view: ConsentProjection


async def hospital_name(deps: Deps, code: str | None) -> str:
    if not code:
        return "-"
    hospital = await deps.view.hospital(code)
    return hospital.name if hospital else code


def entry(kind: str, event: Envelope, text: texts.Text, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": kind,
        "created_at": event.time,
        "event_id": event.id,
        **asdict(text),
        "data": data,
    }


async def on_access_event(deps: Deps, event: Envelope) -> None:
    """A permitted read of the patient's record becomes an inbox entry."""
    data = event.data
    if data.get("decision") != "permit":
        return
    name = await hospital_name(deps, data.get("hospital"))
    at = datetime.fromisoformat(data["time"]) if data.get("time") else event.time
    if data.get("break_glass"):
        text = texts.break_glass(
            data.get("physician_name") or "-", name, data.get("break_glass_reason") or "-", at
        )
    else:
        text = texts.record_accessed(
            data.get("physician_name") or "-", name, data.get("categories", []), at
        )
    keep = {
        k: data.get(k)
        for k in ("physician", "physician_name", "hospital", "categories", "break_glass", "count")
    }
    await deps.inbox.put(
        f"access-{event.id}", data["patient"], entry("record-accessed", event, text, keep)
    )


async def on_records_received(deps: Deps, event: Envelope) -> None:
    data = event.data
    name = await hospital_name(deps, data.get("hospital"))
    text = texts.records_received(name, data.get("counts", {}))
    keep = {"hospital": data.get("hospital"), "counts": data.get("counts", {})}
    await deps.inbox.put(
        f"records-{event.id}", data["patient"], entry("records-received", event, text, keep)
    )


async def on_hospital_event(deps: Deps, event: Envelope) -> None:
    await deps.view.on_hospital_event(event)
