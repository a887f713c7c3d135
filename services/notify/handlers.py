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
from shared.coverage import HospitalState
from shared.database import Document
from shared.deadletter import SourceMessage
from shared.errors import Rejected
from shared.events import (
    ConsentChanged,
    Envelope,
    PatientRegistered,
    RecordAccessed,
    RecordsReceived,
    VerificationEvent,
    VerificationFailed,
    VerificationRefused,
    VerificationSucceeded,
    parse,
)
from shared.logging import get_logger
from shared.projections import ConsentProjection

log = get_logger(__name__)
VERIFICATION: dict[type[VerificationEvent], texts.Outcome] = {
    VerificationSucceeded: "success",
    VerificationFailed: "failure",
    VerificationRefused: "refused",
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


def name_of(code: str | None, hospital: HospitalState | None) -> str:
    """How a notification names a hospital: its name, else its code, else "-"."""
    if hospital is not None:
        return hospital.name
    return code or "-"


async def on_access_event(deps: Deps, envelope: Envelope) -> None:
    """A permitted read: at once, or parked for the hourly digest; break-glass always at once."""
    event = RecordAccessed.of(envelope)
    if event.decision != "permit":
        return
    patient, at = event.patient, event.time
    name = await hospital_name(deps, event.hospital)
    who = event.physician_name or event.physician or "-"
    keep = event.model_dump(
        mode="json",
        include={"physician", "physician_name", "hospital", "categories", "break_glass", "count"},
    )
    notice_id = f"access-{envelope.id}"
    if event.break_glass:
        text = texts.break_glass(who, name, event.break_glass_reason or "-", at)
        await deps.notify(notice_id, patient, "record-accessed", text, keep)
        return
    if await deps.preferences.get(patient) == "hourly":
        item = {**keep, "who": who, "where": name, "at": at.isoformat()}
        await deps.digests.park(notice_id, patient, item)
        return
    text = texts.record_accessed(who, name, event.categories, at)
    await deps.notify(notice_id, patient, "record-accessed", text, keep)


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


async def on_consent_event(deps: Deps, envelope: Envelope) -> None:
    """Consent changes are confirmed; verification results are told; patients are known."""
    event, cid = parse(envelope), envelope.subject
    if isinstance(event, VerificationEvent):
        text = texts.verification_result(VERIFICATION[type(event)])
        await deps.notify(f"verify-{envelope.id}", cid, "identity-verification", text, {})
        return
    if isinstance(event, PatientRegistered):
        await deps.patients.update_one({"_id": cid}, {"$set": {"registered": True}}, upsert=True)
        return
    if not isinstance(event, ConsentChanged):
        return
    await deps.view.on_consent_event(envelope)
    await deps.patients.update_one({"_id": cid}, {"$set": {"consented": True}}, upsert=True)
    state = event.state
    codes = list(state.hospitals)
    names = [await hospital_name(deps, c) for c in codes]
    text = texts.consent_state(state.all_hospitals, names, state.allow_sensitive,
                               len(state.per_visit))  # fmt: skip
    summary = {"version": event.version, "change": event.NAME, "hospitals": codes}
    notice_id = f"consent-{cid}-v{event.version}"
    await deps.notify(notice_id, cid, "consent-changed", text, summary)


async def on_records_batch(deps: Deps, sources: list[SourceMessage]) -> Outcomes:
    """Hospital X has sent your records: one notice per upload, written together."""
    outcomes, readable = envelopes(sources)
    events: list[tuple[str, RecordsReceived]] = []
    for index, envelope in readable:
        try:
            events.append((envelope.id, RecordsReceived.of(envelope)))
        except Rejected as exc:
            outcomes[index] = exc
    if not events:
        return outcomes
    codes = sorted({event.hospital for _, event in events})
    views = await deps.view.hospitals_of(codes)
    notices = []
    for event_id, event in events:
        name = name_of(event.hospital, views.get(event.hospital))
        text = texts.records_received(name, event.counts)
        keep = {"hospital": event.hospital, "counts": event.counts}
        notices.append(Notice(f"records-{event_id}", event.patient, "records-received",
                              text, keep))  # fmt: skip
    await deps.notify_many(notices)
    return outcomes


async def on_hospital_event(deps: Deps, envelope: Envelope) -> None:
    await deps.view.on_hospital_event(envelope)
