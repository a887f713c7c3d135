"""Notify use cases: turn events into notifications, each exactly once.

Every notification has an id derived from what caused it (``access-<event id>``,
``consent-<cid>-v<version>``, ...). ``notify`` stores it in the patient's inbox and
queues it for the webhook; both ignore an id they already hold, so a redelivered
event, or a crash between the two writes, never produces a second notification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from services.notify import texts
from services.notify.digest import Digests, Preferences, bucket_end
from services.notify.repository import Inbox
from services.notify.webhook import Deliveries
from shared.consumer import Outcomes, envelopes
from shared.database import Document
from shared.deadletter import SourceMessage
from shared.events import Envelope
from shared.logging import get_logger
from shared.projections import ConsentProjection, HospitalView

log = get_logger(__name__)
VERIFICATION = {
    "patient.verification_succeeded": "success",
    "patient.verification_failed": "failure",
    "patient.verification_refused": "refused",
}


@dataclass
class Deps:
    inbox: Inbox
    view: ConsentProjection
    patients: AsyncCollection[Document]
    preferences: Preferences
    digests: Digests
    deliveries: Deliveries | None
    clock: Callable[[], datetime]

    async def notify(
        self, notification_id: str, patient: str, kind: str, text: texts.Text, data: dict[str, Any]
    ) -> None:
        await self.notify_many([Notice(notification_id, patient, kind, text, data)])

    async def notify_many(self, notices: list[Notice]) -> None:
        """Store and queue several notifications: one inbox write, one queue write."""
        created = self.clock()
        entries = [
            (n.id, n.patient, {"kind": n.kind, "created_at": created, **asdict(n.text),
                               "data": n.data})
            for n in notices
        ]  # fmt: skip
        await self.inbox.put_many(entries)
        if self.deliveries is not None:
            payloads = [
                (nid, {"id": nid, "patient": patient, **entry, "created_at": created.isoformat()})
                for nid, patient, entry in entries
            ]
            await self.deliveries.enqueue_many(payloads)


@dataclass(frozen=True)
class Notice:
    """One notification to store and queue."""

    id: str
    patient: str
    kind: str
    text: texts.Text
    data: dict[str, Any]


async def hospital_name(deps: Deps, code: str | None) -> str:
    return name_of(code, await deps.view.hospital(code) if code else None)


def name_of(code: str | None, hospital: HospitalView | None) -> str:
    """How a notification names a hospital: its name, else its code, else "-"."""
    if hospital is not None:
        return hospital.name
    return code or "-"


def _at(data: dict[str, Any], event: Envelope) -> datetime:
    try:
        at = datetime.fromisoformat(str(data["time"]))
    except (KeyError, ValueError):
        return event.time
    return at if at.tzinfo is not None else event.time


async def on_access_event(deps: Deps, event: Envelope) -> None:
    """A permitted read: at once, or parked for the hourly digest; break-glass always at once."""
    data = event.data
    patient = data.get("patient")
    if data.get("decision") != "permit" or not isinstance(patient, str):
        return
    name, at = await hospital_name(deps, data.get("hospital")), _at(data, event)
    who = data.get("physician_name") or data.get("physician") or "-"
    keep = {
        k: data.get(k)
        for k in ("physician", "physician_name", "hospital", "categories", "break_glass", "count")
    }
    if data.get("break_glass"):
        text = texts.break_glass(who, name, data.get("break_glass_reason") or "-", at)
        await deps.notify(f"access-{event.id}", patient, "record-accessed", text, keep)
        return
    if await deps.preferences.get(patient) == "hourly":
        item = {**keep, "who": who, "where": name, "at": at.isoformat()}
        await deps.digests.park(f"access-{event.id}", patient, item)
        return
    text = texts.record_accessed(who, name, data.get("categories", []), at)
    await deps.notify(f"access-{event.id}", patient, "record-accessed", text, keep)


async def flush_digests(deps: Deps) -> int:
    """Turn every finished hour's parked accesses into one notification per patient."""
    digest_ids = await deps.digests.claim_due()
    for digest_id in digest_ids:
        items = await deps.digests.items(digest_id)
        if items:
            views = [
                (i["item"]["who"], i["item"]["where"], datetime.fromisoformat(i["item"]["at"]))
                for i in items
            ]
            text = texts.access_digest(views, bucket_end(items[0]["bucket"]))
            data = {"accesses": [i["_id"] for i in items]}
            await deps.notify(digest_id, items[0]["patient"], "access-digest", text, data)
        await deps.digests.finish(digest_id)
    return len(digest_ids)


async def on_consent_event(deps: Deps, event: Envelope) -> None:
    """Consent changes are confirmed; verification results are told; patients are known."""
    data, cid = event.data, event.subject
    if event.name in VERIFICATION:
        text = texts.verification_result(VERIFICATION[event.name])  # type: ignore[arg-type]
        await deps.notify(f"verify-{event.id}", cid, "identity-verification", text, {})
        return
    if event.name == "patient.registered":
        await deps.patients.update_one({"_id": cid}, {"$set": {"registered": True}}, upsert=True)
        return
    if "state" not in data or "version" not in data:
        return
    await deps.view.on_consent_event(event)
    await deps.patients.update_one({"_id": cid}, {"$set": {"consented": True}}, upsert=True)
    state = data["state"]
    codes = [str(c) for c in state.get("hospitals", [])]
    names = [await hospital_name(deps, c) for c in codes]
    text = texts.consent_state(
        bool(state.get("all_hospitals")),
        names,
        bool(state.get("allow_sensitive")),
        len(state.get("per_visit", [])),
    )
    summary = {"version": data["version"], "change": event.name, "hospitals": codes}
    await deps.notify(f"consent-{cid}-v{data['version']}", cid, "consent-changed", text, summary)


async def on_records_batch(deps: Deps, sources: list[SourceMessage]) -> Outcomes:
    """Hospital X has sent your records: one notice per upload, written together."""
    outcomes, readable = envelopes(sources)
    events = [
        e
        for _, e in readable
        if e.name == "records.received" and isinstance(e.data.get("patient"), str)
    ]
    if not events:
        return outcomes
    codes = sorted({str(e.data.get("hospital")) for e in events if e.data.get("hospital")})
    views = await deps.view.hospitals_of(codes) if codes else {}
    notices = []
    for event in events:
        code = event.data.get("hospital")
        name = name_of(str(code) if code else None, views.get(str(code)) if code else None)
        counts = event.data.get("counts", {})
        text = texts.records_received(name, counts)
        keep = {"hospital": code, "counts": counts}
        notices.append(Notice(f"records-{event.id}", event.data["patient"], "records-received",
                              text, keep))  # fmt: skip
    await deps.notify_many(notices)
    return outcomes


async def on_hospital_event(deps: Deps, event: Envelope) -> None:
    if "state" in event.data and "version" in event.data:
        await deps.view.on_hospital_event(event)
