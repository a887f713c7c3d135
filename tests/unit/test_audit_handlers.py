"""Audit use cases and subscribers over the in-memory audit log: no broker, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from services.audit import handlers, subscribers
from services.audit.errors import BadTime
from services.audit.fakes import MemoryAuditLog
from services.audit.handlers import Deps, Search
from shared.deadletter import SourceMessage
from shared.errors import Rejected
from shared.events import ConsentGranted, Envelope, RecordAccessed
from tests.support.clock import Clock
from tests.support.events import raw

pytestmark = pytest.mark.unit
START = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
CID, OTHER = "1100700000001", "3100700000002"


@pytest.fixture
def deps() -> Deps:
    clock = Clock(START)
    return Deps(log=MemoryAuditLog(clock), clock=clock)


def memory(deps: Deps) -> MemoryAuditLog:
    assert isinstance(deps.log, MemoryAuditLog)
    return deps.log


def access(cid: str, minute: int, decision: str = "permit", **extra: Any) -> Envelope:
    data = {
        "physician": "12345",
        "hospital": "11535",
        "patient": cid,
        "decision": decision,
        "categories": ["lab_value"] if decision == "permit" else [],
        "sources": ["10670"] if decision == "permit" else [],
        "time": (START + timedelta(minutes=minute)).isoformat(),
        **extra,
    }
    return raw(RecordAccessed, cid, data)


def letter(value: bytes, **headers: str) -> SourceMessage:
    return SourceMessage("healthlink.deadletter", 1, 9, None, value, headers)


async def test_an_event_is_recorded_once_in_its_partitions_chain(deps: Deps) -> None:
    event = access(CID, 0)
    assert await handlers.record_event(deps, "access", 3, event)
    assert not await handlers.record_event(deps, "access", 3, event)  # redelivered
    assert not await handlers.record_event(deps, "access", 5, event)  # even elsewhere
    [record] = memory(deps).records.values()
    assert record["chain"] == "access.p3" and record["seq"] == 0
    assert record["body"] == event.model_dump(mode="json")
    assert memory(deps).arrivals[record["_id"]] == START
    found = await handlers.verify_log(deps)
    assert found.ok and found.checked == 1


async def test_a_dead_letter_is_recorded_once_as_a_digest(deps: Deps) -> None:
    source = letter(b'{"clinical": "text"}', **{"hl-dlq-id": "d1", "hl-signature": "sha256=0"})
    assert await handlers.record_dead_letter(deps, source)
    assert not await handlers.record_dead_letter(deps, source)
    [record] = memory(deps).records.values()
    assert record["event_id"] == "dlq:d1" and record["kind"] == "deadletter"
    assert "clinical" not in str(record) and "hl-signature" not in record["body"]["headers"]
    assert record["time"] == START  # no hl-dlq-time: the clock


async def test_verification_names_the_first_bad_record(deps: Deps) -> None:
    for minute in range(5):
        await handlers.record_event(deps, "access", 0, access(CID, minute))
    records = memory(deps).records
    records["access.p0:000000000002"]["body"]["data"]["decision"] = "deny"
    found = await handlers.verify_log(deps)
    assert not found.ok and found.checked == 5
    assert [(b.chain, b.seq, b.kind) for b in found.breaches] == [("access.p0", 2, "altered")]
    del records["access.p0:000000000004"]
    records["access.p0:000000000002"]["body"]["data"]["decision"] = "permit"
    [breach] = (await handlers.verify_log(deps)).breaches
    assert (breach.seq, breach.kind) == (4, "deleted")  # the truncated tail, by the tip


async def test_a_patient_sees_only_accesses_to_their_own_record_newest_first(deps: Deps) -> None:
    await handlers.record_event(deps, "access", 0, access(CID, 0))
    await handlers.record_event(deps, "access", 1, access(CID, 2, "deny", reason="no consent"))
    await handlers.record_event(deps, "access", 0, access(OTHER, 1))
    await handlers.record_event(deps, "consent", 0, raw(ConsentGranted, CID, {"version": 1}))
    entries = await handlers.read_accesses(deps, CID, 0, 50)
    assert [(e["decision"], e["reason"]) for e in entries] == [("deny", "no consent"),
                                                              ("permit", None)]  # fmt: skip
    assert entries[1]["categories"] == ["lab_value"] and entries[1]["physician"] == "12345"
    assert entries[1]["sources"] == ["10670"]  # whose records were shown
    assert [e["decision"] for e in await handlers.read_accesses(deps, CID, 1, 1)] == ["permit"]


async def test_a_search_filters_by_field_and_time_window(deps: Deps) -> None:
    for minute, hospital in ((0, "11535"), (1, "10670"), (2, "11535")):
        await handlers.record_event(deps, "access", 0, access(CID, minute, hospital=hospital))
    window = Search(hospital="11535", since=(START + timedelta(minutes=1)).isoformat())
    [entry] = await handlers.search_records(deps, window)
    assert entry["hospital"] == "11535"
    assert entry["time"] == (START + timedelta(minutes=2)).isoformat()
    assert entry["chain"] == "access.p0" and entry["seq"] == 2 and len(entry["hash"]) == 64
    assert len(await handlers.search_records(deps, Search(until=START.isoformat()))) == 0
    bundle = await handlers.export_audit_events(deps, Search(patient=CID))
    Bundle.model_validate(bundle)
    assert bundle["total"] == 3


@pytest.mark.parametrize("bound", ["yesterday", "9999-12-31T23:59:59-23:59"])
async def test_an_unreadable_time_bound_is_refused(deps: Deps, bound: str) -> None:
    with pytest.raises(BadTime, match="since"):
        await handlers.search_records(deps, Search(since=bound))


async def test_an_unreadable_envelope_is_rejected_and_nothing_stored(deps: Deps) -> None:
    source = SourceMessage("healthlink.access.events", 0, 1, None, b"not an envelope", {})
    with pytest.raises(Rejected) as refused:
        await subscribers.on_event(deps, "access", source)
    assert refused.value.code == "malformed-event" and not memory(deps).records
    event = access(CID, 0)
    valid = SourceMessage("t", 2, 1, None, event.model_dump_json().encode(), {})
    await subscribers.on_event(deps, "access", valid)
    assert [r["chain"] for r in memory(deps).records.values()] == ["access.p2"]


async def test_a_dead_letter_of_any_shape_is_recorded_never_rejected(deps: Deps) -> None:
    await subscribers.on_dead_letter(deps, letter(b"\xff\x00", **{"hl-dlq-time": "junk"}))
    await subscribers.on_dead_letter(deps, letter(b"", **{"hl-dlq-id": "x"}))
    assert len(memory(deps).records) == 2
    assert (await handlers.verify_log(deps)).ok
