"""Notify use cases: turn events into notifications, each exactly once.

Every notification has an id derived from what caused it (``access-<event id>``,
``consent-<cid>-v<version>``, ...). ``notify`` stores it in the patient's inbox and
queues it for the webhook; both ignore an id they already hold, so a redelivered
event, or a crash between the two writes, never produces a second notification.
The announcement use case is in ``announcements.py``; what patients and operators ask
over HTTP in ``inbox.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from services.notify import texts
from services.notify.domain import (
    Notice,
    bucket_end,
    digest_id,
    hour_bucket,
    inbox_entry,
    webhook_payload,
)
from services.notify.names import HospitalNames
from services.notify.repository import (
    AnnouncementSlots,
    Deliveries,
    DigestItems,
    Directory,
    Inbox,
    Patients,
    Preferences,
)
from shared.events import (
    ConsentChanged,
    Envelope,
    RecordAccessed,
    RecordsReceived,
    VerificationEvent,
    VerificationFailed,
    VerificationRefused,
    VerificationSucceeded,
)
from shared.events.access import PATIENT_REQUEST
from shared.projections import ConsentProjection

VERIFICATION: dict[type[VerificationEvent], texts.Outcome] = {
    VerificationSucceeded: "success",
    VerificationFailed: "failure",
    VerificationRefused: "refused",
}
KEPT = {"physician", "physician_name", "hospital", "categories", "break_glass", "count"}


@dataclass
class Deps:
    """Notify's ports (``repository.py``), its copies of consents and hospitals, and what
    "now" is. ``deliveries`` is None when no webhook is configured."""

    inbox: Inbox
    patients: Patients
    preferences: Preferences
    digests: DigestItems
    deliveries: Deliveries | None
    slots: AnnouncementSlots
    directory: Directory
    view: ConsentProjection
    clock: Callable[[], datetime]
    names: HospitalNames = field(init=False)  # from ``view``, kept a while (names.py)

    def __post_init__(self) -> None:
        self.names = HospitalNames(self.view)


async def notify(deps: Deps, notices: list[Notice]) -> None:
    """Store and queue notifications: one inbox write, one queue write; ids already
    held are left as they are."""
    created = deps.clock()
    entries = [inbox_entry(notice, created) for notice in notices]
    await deps.inbox.put_many(entries)
    if deps.deliveries is not None:
        await deps.deliveries.enqueue_many([(e[0], webhook_payload(e)) for e in entries])


async def tell_access(deps: Deps, event_id: str, event: RecordAccessed) -> None:
    """A permitted read: at once, or parked for the hourly digest; break-glass always at once."""
    if event.decision != "permit" or event.purpose == PATIENT_REQUEST:
        return  # nothing was shown, or the patient read their own record: the log has it
    patient, at = event.patient, event.time
    name = await deps.names.one(event.hospital)
    who = event.physician_name or event.physician or "-"
    keep = event.model_dump(mode="json", include=KEPT)
    notice_id = f"access-{event_id}"
    if event.break_glass:
        text = texts.break_glass(who, name, event.break_glass_reason or "-", at)
        await notify(deps, [Notice(notice_id, patient, "record-accessed", text, keep)])
        return
    if await deps.preferences.get(patient) == "hourly":
        item = {**keep, "who": who, "where": name, "at": at.isoformat()}
        await deps.digests.park(notice_id, patient, hour_bucket(deps.clock()), item)
        return
    text = texts.record_accessed(who, name, event.categories, at)
    await notify(deps, [Notice(notice_id, patient, "record-accessed", text, keep)])


async def flush_digests(deps: Deps) -> int:
    """Turn every finished hour's parked accesses into one notification per patient;
    how many digests were told."""
    now = deps.clock()
    due: dict[tuple[str, str], list[str]] = {}
    for item_id, patient, bucket in await deps.digests.unclaimed():
        if bucket_end(bucket) <= now:
            due.setdefault((patient, bucket), []).append(item_id)
    for (patient, bucket), ids in due.items():
        await deps.digests.claim(ids, digest_id(patient, bucket, ids))
    told = await deps.digests.unfinished()
    for digest in told:
        items = await deps.digests.items(digest)
        if items:
            views = [
                (i["item"]["who"], i["item"]["where"], datetime.fromisoformat(i["item"]["at"]))
                for i in items
            ]
            text = texts.access_digest(views, bucket_end(items[0]["bucket"]))
            data = {"accesses": [i["_id"] for i in items]}
            notice = Notice(digest, items[0]["patient"], "access-digest", text, data)
            await notify(deps, [notice])
        await deps.digests.finish(digest)
    return len(told)


async def tell_verification(deps: Deps, event_id: str, cid: str, event: VerificationEvent) -> None:
    """The result of an identity verification attempt (the refusal in the FAQ's words)."""
    text = texts.verification_result(VERIFICATION[type(event)])
    await notify(deps, [Notice(f"verify-{event_id}", cid, "identity-verification", text, {})])


async def note_registered(deps: Deps, cid: str) -> None:
    """A registered patient is told about new hospitals from now on."""
    await deps.patients.note(cid, "registered")


async def confirm_consent(deps: Deps, envelope: Envelope) -> None:
    """Keep the new consent, and confirm to the patient what it now shares, once per version."""
    event, cid = ConsentChanged.of(envelope), envelope.subject
    await deps.view.on_consent_event(envelope)
    await deps.patients.note(cid, "consented")
    state = event.state
    codes = list(state.hospitals)
    named = await deps.names.of(codes)
    names = [named[c] for c in codes]
    text = texts.consent_state(state.all_hospitals, names, state.allow_sensitive,
                               len(state.per_visit))  # fmt: skip
    summary = {"version": event.version, "change": event.NAME, "hospitals": codes}
    notice_id = f"consent-{cid}-v{event.version}"
    await notify(deps, [Notice(notice_id, cid, "consent-changed", text, summary)])


async def tell_records_received(deps: Deps, events: list[tuple[str, RecordsReceived]]) -> None:
    """Hospital X has sent your records: one notice per upload (``(event id, event)``),
    written together."""
    if not events:
        return
    named = await deps.names.of(event.hospital for _, event in events)
    notices = []
    for event_id, event in events:
        name = named[event.hospital]
        text = texts.records_received(name, event.counts)
        keep = {"hospital": event.hospital, "counts": event.counts}
        notices.append(Notice(f"records-{event_id}", event.patient, "records-received",
                              text, keep))  # fmt: skip
    await notify(deps, notices)


async def note_hospital(deps: Deps, envelope: Envelope) -> None:
    """Keep the hospital's new state (notifications name hospitals; announcements list them)."""
    await deps.view.on_hospital_event(envelope)
    deps.names.forget(envelope.subject)
