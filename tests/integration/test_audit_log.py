"""The audit log against the real database: once per event, tamper detection, crash safety."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.audit.chain import next_record, tip_of
from services.audit.handlers import Deps, verify_log
from services.audit.repository import MongoAuditLog, record_key
from services.audit.sources import Entry
from services.audit.verification import Breach
from shared.database import Document

pytestmark = pytest.mark.integration

CHAIN = "access.p0"


@pytest.fixture
async def log_(mongo: AsyncMongoClient[Document]) -> MongoAuditLog:
    found = MongoAuditLog(mongo[f"audit_log_{uuid.uuid4().hex[:10]}"])
    await found.ensure_indexes()
    return found


def entry(n: int, chain: str = CHAIN) -> Entry:
    body = {"id": f"ev-{n}", "data": {"patient": "1100700000001", "n": n}}
    index: dict[str, Any] = {
        "kind": "access",
        "type": "record.accessed",
        "time": datetime(2026, 1, 1, 0, 0, n % 60, tzinfo=UTC),
        "patient": "1100700000001",
        "physician": "12345",
        "hospital": "11535",
        "decision": "permit",
        "break_glass": False,
    }
    return Entry(chain, f"ev-{chain}-{n}", body, index)


async def verify(log_: MongoAuditLog) -> list[Breach]:
    return (await verify_log(Deps(log=log_))).breaches


async def filled(log_: MongoAuditLog, n: int) -> None:
    for i in range(n):
        assert await log_.append(entry(i))


async def test_a_redelivered_event_is_stored_once(log_: MongoAuditLog) -> None:
    await filled(log_, 3)
    assert not await log_.append(entry(1))
    fresh = MongoAuditLog(log_._records.database)  # another writer, cold cache
    assert not await fresh.append(entry(2))
    records, tips = await log_.snapshot()
    assert [r["seq"] for r in records[CHAIN]] == [0, 1, 2]
    assert tips[CHAIN].seq == 2
    assert await verify(log_) == []


async def first_breach(log_: MongoAuditLog) -> tuple[str, int]:
    breaches = await verify(log_)
    assert len(breaches) == 1, breaches
    return breaches[0].kind, breaches[0].seq


async def test_an_altered_record_is_found(log_: MongoAuditLog) -> None:
    await filled(log_, 6)
    await log_._records.update_one({"_id": record_key(CHAIN, 3)}, {"$set": {"body.data.n": 99}})
    assert await first_breach(log_) == ("altered", 3)


async def test_a_deleted_record_is_found(log_: MongoAuditLog) -> None:
    await filled(log_, 6)
    await log_._records.delete_one({"_id": record_key(CHAIN, 2)})
    assert await first_breach(log_) == ("deleted", 2)


async def test_a_truncated_tail_is_found_by_the_tip(log_: MongoAuditLog) -> None:
    await filled(log_, 6)
    await log_._records.delete_one({"_id": record_key(CHAIN, 5)})
    assert await first_breach(log_) == ("deleted", 5)


async def test_reordered_records_are_found(log_: MongoAuditLog) -> None:
    await filled(log_, 6)
    await log_._records.update_one({"_id": record_key(CHAIN, 1)}, {"$set": {"seq": 4}})
    await log_._records.update_one({"_id": record_key(CHAIN, 4)}, {"$set": {"seq": 1}})
    assert await first_breach(log_) == ("reordered", 1)


async def test_an_inserted_record_is_found(log_: MongoAuditLog) -> None:
    await filled(log_, 4)
    last = await log_._records.find_one({"_id": record_key(CHAIN, 3)})
    assert last is not None
    forged = next_record(CHAIN, tip_of(last), "forged", {"data": {"forged": True}})
    await log_._records.insert_one({**forged, "_id": record_key(CHAIN, 4)})
    assert await first_breach(log_) == ("inserted", 4)


async def test_a_crash_between_record_and_tip_is_reconciled(log_: MongoAuditLog) -> None:
    await filled(log_, 3)
    # The crash: record 3 was inserted, its tip never moved.
    tip = await log_.tip(CHAIN)
    assert tip is not None
    assert await log_.append(entry(3))
    await log_._tips.update_one({"_id": CHAIN}, {"$set": {"seq": tip.seq, "hash": tip.hash}})
    assert [(b.kind, b.seq) for b in await verify(log_)] == [("inserted", 3)]
    restarted = MongoAuditLog(log_._records.database)
    await restarted.reconcile()
    assert (await restarted.tip(CHAIN)).seq == 3  # type: ignore[union-attr]
    assert await restarted.append(entry(4))
    assert not await restarted.append(entry(3))
    assert await verify(restarted) == []


async def test_two_writers_never_fork_a_chain(log_: MongoAuditLog) -> None:
    await filled(log_, 2)
    other = MongoAuditLog(log_._records.database)
    assert await other.append(entry(2))
    assert await log_.append(entry(3))  # stale cache: takes seq 3 after a retry
    records, _ = await log_.snapshot()
    assert [r["seq"] for r in records[CHAIN]] == [0, 1, 2, 3]
    assert await verify(log_) == []


async def test_chains_are_independent(log_: MongoAuditLog) -> None:
    for i in range(3):
        await log_.append(entry(i, "access.p0"))
        await log_.append(entry(i, "consent.p1"))
    await log_._records.update_one(
        {"_id": record_key("consent.p1", 1)}, {"$set": {"body.data.n": 7}}
    )
    breaches = await verify(log_)
    assert [(b.chain, b.kind, b.seq) for b in breaches] == [("consent.p1", "altered", 1)]
