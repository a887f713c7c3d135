"""Notify use cases over in-memory fakes: what each event tells the patient, once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notify import subscribers
from services.notify.announcements import Announcer
from services.notify.handlers import Deps, flush_digests
from services.notify.repository import MemoryInbox
from services.notify.slots import MemoryAnnouncementSlots
from shared.coverage import ConsentState, HospitalState
from shared.deadletter import SourceMessage
from shared.errors import Rejected
from shared.events import (
    ConsentGranted,
    Envelope,
    HospitalRegistered,
    PatientRegistered,
    RecordAccessed,
    RecordsReceived,
    VerificationFailed,
    VerificationRefused,
)
from tests.support.cids import CID, OTHER
from tests.support.clock import Clock
from tests.support.events import access_data, envelope, raw
from tests.support.notify import inbox_of, memory_deps, queued

pytestmark = pytest.mark.unit
START = datetime(2026, 3, 1, 5, 10, tzinfo=UTC)  # 12:10 in Bangkok


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def deps(clock: Clock) -> Deps:
    return memory_deps(clock)


def kinds(deps: Deps, cid: str = CID) -> list[str]:
    return sorted(str(e["kind"]) for e in inbox_of(deps, cid))


async def hospital(deps: Deps, code: str, name: str, joined_at: datetime = START) -> None:
    state = HospitalState(code=code, name=name, role="provider", joined_at=joined_at)
    await subscribers.on_hospital_event(
        deps, envelope(HospitalRegistered(version=1, state=state), code)
    )


def access(at: datetime, **extra: Any) -> Envelope:
    data = access_data(CID, at, **{"physician_name": "Dr A", "hospital": "10670", **extra})
    return envelope(RecordAccessed.model_validate(data), CID)


def granted(cid: str, version: int, **state: Any) -> Envelope:
    return envelope(ConsentGranted(version=version, state=ConsentState(**state)), cid)


async def test_a_permitted_access_is_told_once_and_queued_once(deps: Deps) -> None:
    await hospital(deps, "10670", "Siriraj")
    read = access(START)
    for _ in range(2):  # a redelivery
        await subscribers.on_access_event(deps, read)
    await subscribers.on_access_event(deps, access(START, decision="deny"))
    [entry] = inbox_of(deps, CID)
    assert entry["_id"] == f"access-{read.id}" and entry["kind"] == "record-accessed"
    assert "Dr A at Siriraj" in str(entry["body_en"]) and entry["read"] is False
    assert queued(deps) == [f"access-{read.id}"]


async def test_without_a_webhook_the_inbox_alone_is_written(clock: Clock) -> None:
    deps = memory_deps(clock, webhook=False)
    await subscribers.on_access_event(deps, access(START))
    assert kinds(deps) == ["record-accessed"] and deps.deliveries is None


async def test_hourly_digest_once_per_hour_and_break_glass_at_once(
    deps: Deps, clock: Clock
) -> None:
    await deps.preferences.put(CID, "hourly")
    reads = [access(START), access(START + timedelta(minutes=5))]
    glass = access(START, break_glass=True, break_glass_reason="unconscious in ER")
    for event in [*reads, reads[0], glass]:
        await subscribers.on_access_event(deps, event)
    [urgent] = inbox_of(deps, CID)
    assert "unconscious in ER" in str(urgent["body_en"])
    assert await flush_digests(deps) == 0  # the hour is not over
    clock.now += timedelta(hours=1)
    assert await flush_digests(deps) == 1
    assert await flush_digests(deps) == 0
    [digest] = [e for e in inbox_of(deps, CID) if e["kind"] == "access-digest"]
    assert "(2 times)" in str(digest["title_en"])
    assert digest["data"] == {"accesses": sorted(f"access-{r.id}" for r in reads)}
    late = access(START + timedelta(minutes=50))  # arrives after its hour was flushed
    clock.now = START + timedelta(minutes=55)
    await subscribers.on_access_event(deps, late)
    clock.now += timedelta(hours=1)
    assert await flush_digests(deps) == 1  # a second, separate digest
    assert kinds(deps) == ["access-digest", "access-digest", "record-accessed"]


async def test_a_crash_after_claiming_a_digest_is_told_under_the_same_id(
    deps: Deps, clock: Clock
) -> None:
    await deps.preferences.put(CID, "hourly")
    await subscribers.on_access_event(deps, access(START))
    clock.now += timedelta(hours=1)
    items = await deps.digests.unclaimed()
    await deps.digests.claim([items[0][0]], "digest-crashed")  # claimed, never told
    assert await flush_digests(deps) == 1
    [digest] = inbox_of(deps, CID)
    assert digest["_id"] == "digest-crashed" and await deps.digests.unfinished() == []


async def test_consent_changes_are_confirmed_once_per_version(deps: Deps) -> None:
    await hospital(deps, "10670", "Siriraj")
    v1 = granted(CID, 1, hospitals=("10670",))
    for event in (v1, v1, granted(CID, 2, all_hospitals=True)):
        await subscribers.on_consent_event(deps, event)
    entries = inbox_of(deps, CID)
    assert [e["_id"] for e in entries] == [f"consent-{CID}-v1", f"consent-{CID}-v2"]
    assert "Siriraj" in str(entries[0]["body_en"])
    assert "all participating hospitals" in str(entries[1]["body_en"])
    consent = await deps.view.consent(CID)
    assert consent is not None and consent.version == 2
    assert [cid async for cid in deps.patients.cids()] == [CID]


async def test_verification_results_and_registrations(deps: Deps) -> None:
    day = START.date().isoformat()
    failed = VerificationFailed(cid=CID, day=day, time=START, attempt=1, remaining=4)
    message = {"th": "...", "en": "..."}
    refused = VerificationRefused(cid=CID, day=day, time=START, message=message)
    registered = PatientRegistered(cid=OTHER, birth_date=START.date(), registered_at=START)
    for event in (envelope(failed, CID), envelope(refused, CID), envelope(registered, OTHER)):
        await subscribers.on_consent_event(deps, event)
    entries = inbox_of(deps, CID)
    assert [e["kind"] for e in entries] == ["identity-verification"] * 2
    assert any("เกิน 5 ครั้ง" in str(e["body_th"]) for e in entries)
    assert inbox_of(deps, OTHER) == []
    assert sorted([cid async for cid in deps.patients.cids()]) == [OTHER]


async def test_an_unknown_consent_topic_event_is_rejected(deps: Deps) -> None:
    odd = Envelope(source="test", type="th.healthlink.nothing.v1", subject=CID, data={})
    with pytest.raises(Rejected):
        await subscribers.on_consent_event(deps, odd)


def source(event: Envelope | bytes) -> SourceMessage:
    value = event if isinstance(event, bytes) else event.model_dump_json().encode()
    return SourceMessage("records", 0, 0, None, value, {})


async def test_records_received_one_notice_per_upload_and_bad_records_set_aside(
    deps: Deps,
) -> None:
    await hospital(deps, "10670", "Siriraj")
    received = RecordsReceived(
        patient=CID, hospital="10670", upload_id="u1", counts={"lab_value": 2},
        resources=2, written=2,
    )  # fmt: skip
    good = envelope(received, CID)
    partial = raw(RecordsReceived, CID, {"patient": CID})
    batch = [source(good), source(b"{not json"), source(partial), source(good)]
    outcomes = await subscribers.on_records_batch(deps, batch)
    assert [type(o).__name__ if o else None for o in outcomes] == [
        None, "Rejected", "Rejected", None,
    ]  # fmt: skip
    [entry] = inbox_of(deps, CID)
    assert entry["_id"] == f"records-{good.id}" and "Siriraj" in str(entry["body_en"])
    await subscribers.on_records_batch(deps, [source(good)])
    assert len(inbox_of(deps, CID)) == 1


def bkk(day: int, hour: int, minute: int = 0, month: int = 5) -> datetime:
    return datetime(2026, month, day, hour - 7, minute, tzinfo=UTC)


async def announced(deps: Deps, cid: str) -> list[dict[str, Any]]:
    return [e for e in inbox_of(deps, cid) if e["kind"] == "hospitals-joined"]


async def test_new_hospitals_are_announced_once_per_slot(deps: Deps) -> None:
    await subscribers.on_consent_event(deps, granted(CID, 1, all_hospitals=True))
    await subscribers.on_consent_event(deps, granted(OTHER, 1, hospitals=("11535",)))
    first = Announcer(deps, "a")
    assert await first.tick(bkk(30, 12, 5, month=4)) == "2026-04-30T12:00+07:00"
    await hospital(deps, "10670", "Siriraj", joined_at=bkk(3, 9))
    assert await first.tick(bkk(15, 11, 59)) is None
    both = await asyncio.gather(Announcer(deps, "b").tick(bkk(15, 12)), first.tick(bkk(15, 12)))
    assert [key for key in both if key] == ["2026-05-15T12:00+07:00"]
    assert await Announcer(deps, "c").tick(bkk(15, 12, 1)) is None
    [to_all], [to_other] = await announced(deps, CID), await announced(deps, OTHER)
    assert "Siriraj" in str(to_all["body_en"]) and "automatically" in str(to_all["body_en"])
    assert "add them in your consent settings" in str(to_other["body_en"])
    assert to_all["_id"] == f"announce-2026-05-15T12:00+07:00-{CID}"


async def test_a_crashed_fan_out_is_resumed_without_repeats(deps: Deps) -> None:
    await subscribers.on_consent_event(deps, granted(CID, 1, hospitals=("10670",)))
    await subscribers.on_consent_event(deps, granted(OTHER, 1, hospitals=("10670",)))
    await Announcer(deps, "a").tick(bkk(15, 12))
    await hospital(deps, "10670", "Siriraj", joined_at=bkk(20, 9))
    await Announcer(deps, "a").tick(bkk(30, 12))
    slots = deps.slots
    assert isinstance(slots, MemoryAnnouncementSlots)
    slots.docs["2026-05-30T12:00+07:00"]["state"] = "claimed"  # the crash: one entry lost
    assert isinstance(deps.inbox, MemoryInbox)
    del deps.inbox.docs[f"announce-2026-05-30T12:00+07:00-{OTHER}"]
    assert await Announcer(deps, "b").tick(bkk(30, 12, 1)) is None
    assert len(await announced(deps, CID)) == 1 and len(await announced(deps, OTHER)) == 1
    assert await deps.slots.unfinished() == []
