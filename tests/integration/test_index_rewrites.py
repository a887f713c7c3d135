"""The queries rewritten so FerretDB 1.24 serves them from an index, on the real database:
the same answers as before, including for documents written before the rewrite
(migrated once at start). The EXPLAIN test (test_query_shapes.py) proves the indexes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.consent.migrations import migrate as migrate_consent
from services.consent.repository import MongoConsentRepository
from services.notify.deliveries import MongoDeliveries
from services.notify.digest import MongoDigestItems
from services.notify.migrations import migrate as migrate_notify
from shared.database import Document, make_client
from shared.events import ConsentGranted, Envelope, HospitalRegistered
from shared.projections import MongoVersions
from shared.settings import Settings
from tests.support.clock import Clock
from tests.support.events import raw

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CID = "1234567890121"


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncDatabase[Document]]:
    client = make_client(settings)
    yield client[settings.db_name("rewrites")]
    await client.close()


def granted(version: int) -> Envelope:
    return raw(ConsentGranted, CID, {"version": version, "state": {}})


async def test_the_outbox_flag_goes_with_the_last_event(db: AsyncDatabase[Document]) -> None:
    repo = MongoConsentRepository(db)
    first = raw(HospitalRegistered, "10670", {"version": 1})
    second = raw(HospitalRegistered, "10670", {"version": 2})
    assert await repo.save("hospitals", "10670", 0, {"code": "10670"}, [first, second], {})
    await repo.published("hospitals", "10670", first.id)
    assert (await db.hospitals.find_one({"_id": "10670"}) or {}).get("outbox_pending") is True
    await repo.published("hospitals", "10670", second.id)
    assert "outbox_pending" not in (await db.hospitals.find_one({"_id": "10670"}) or {})
    assert await repo.pending("hospitals") == []
    # a flag left behind (a crash between writes) is dropped by the next relay
    await db.hospitals.update_one({"_id": "10670"}, {"$set": {"outbox_pending": True}})
    assert await repo.pending("hospitals") == []
    assert "outbox_pending" not in (await db.hospitals.find_one({"_id": "10670"}) or {})


async def test_expiries_are_read_day_by_day_from_where_the_sweep_left_off(
    db: AsyncDatabase[Document],
) -> None:
    repo = MongoConsentRepository(db)
    ends = {
        "1000000000001": NOW - timedelta(days=2),  # missed while the service was down
        "1000000000002": NOW - timedelta(hours=1),
        "1000000000003": NOW + timedelta(hours=1),  # later today: not yet
        "1000000000004": NOW + timedelta(days=1),
    }
    for cid, end in ends.items():
        event = raw(ConsentGranted, cid, {"version": 1})
        assert await repo.save("consents", cid, 0, {}, [event], {"next_expiry": end})
    await db.sweeps.insert_one({"_id": "expiry", "through": "2026-03-07"})
    assert sorted(await repo.due_expiries(NOW)) == ["1000000000001", "1000000000002"]
    # not expired yet (the caller failed): read again from its day
    assert (await db.sweeps.find_one({"_id": "expiry"}) or {})["through"] == "2026-03-08"
    for cid in ("1000000000001", "1000000000002"):
        event = raw(ConsentGranted, cid, {"version": 2})
        assert await repo.save("consents", cid, 1, {}, [event], {"next_expiry": None})
    assert await repo.due_expiries(NOW) == []
    assert (await db.sweeps.find_one({"_id": "expiry"}) or {})["through"] == "2026-03-10"
    later = NOW + timedelta(hours=2)
    assert await repo.due_expiries(later) == ["1000000000003"]


async def test_consents_written_before_the_rewrite_are_migrated_once(
    db: AsyncDatabase[Document],
) -> None:
    event = granted(1).model_dump(mode="json")
    old = {"_id": CID, "version": 1, "state": {}, "history": [], "outbox": [event]}
    await db.consents.insert_one({**old, "next_expiry": NOW - timedelta(days=3)})
    await db.patients.insert_one({"_id": "1000000000001", "outbox": []})
    repo = MongoConsentRepository(db)
    assert await repo.pending("consents") == []  # not flagged: invisible to the relay
    assert await repo.due_expiries(NOW) == []  # no day: invisible to the sweep
    await migrate_consent(db)
    assert [(key, e.id) for key, e in await repo.pending("consents")] == [(CID, event["id"])]
    assert await repo.due_expiries(NOW) == [CID]
    assert await repo.pending("patients") == []
    await db.consents.insert_one({**old, "_id": "1000000000002"})
    await migrate_consent(db)  # done once: not again
    assert [key for key, _ in await repo.pending("consents")] == [CID]
    assert await db.migrations.count_documents({}) == 2


async def test_digest_items_are_claimed_by_id_and_old_ones_migrated(
    db: AsyncDatabase[Document],
) -> None:
    items = MongoDigestItems(db)
    for n in (1, 2, 3):
        await items.park(f"access-{n}", CID, "2026-03-10T11", {"who": f"MD{n}"})
    await db.digest_items.insert_one(  # parked before the rewrite
        {"_id": "access-0", "patient": CID, "bucket": "2026-03-10T11", "digest": None}
        | {"done": False, "item": {"who": "MD0"}}
    )
    await migrate_notify(db)
    assert sorted(i for i, _, _ in await items.unclaimed()) == [f"access-{n}" for n in range(4)]
    await items.claim(["access-0", "access-1"], "digest-a")
    await items.claim(["access-1", "access-2"], "digest-b")  # access-1 is held already
    assert await items.unfinished() == ["digest-a", "digest-b"]
    assert [d["_id"] for d in await items.items("digest-a")] == ["access-0", "access-1"]
    assert [d["_id"] for d in await items.items("digest-b")] == ["access-2"]
    assert [i for i, _, _ in await items.unclaimed()] == ["access-3"]
    await items.finish("digest-a")
    assert await items.unfinished() == ["digest-b"]


async def test_a_crashed_delivery_is_claimed_before_due_ones(db: AsyncDatabase[Document]) -> None:
    clock = Clock(NOW)
    queue = MongoDeliveries(db, clock)
    assert await queue.enqueue_many([("n1", {"id": "n1"})]) == ["n1"]
    assert ((await queue.claim(timedelta(seconds=30))) or {}).get("_id") == "n1"
    clock.now += timedelta(seconds=5)
    await queue.enqueue_many([("n2", {"id": "n2"})])
    assert await queue.claim(timedelta(seconds=30)) is not None  # n2
    assert await queue.claim(timedelta(seconds=30)) is None  # n1's lease still holds
    clock.now += timedelta(seconds=28)  # n1's lease is over (at +30 s), n2's not (+35 s)
    again = await queue.claim(timedelta(seconds=30))
    assert again is not None and (again["_id"], again["attempts"]) == ("n1", 2)
    await queue.finish("n1", "delivered")
    assert await queue.claim(timedelta(seconds=30)) is None


async def test_a_batch_of_projected_states_is_read_by_id(db: AsyncDatabase[Document]) -> None:
    views = MongoVersions(db.consent_view)
    assert await views.apply("1000000000001", 1, {"all_hospitals": True})
    assert await views.apply("1000000000002", 2, {"all_hospitals": False})
    found = await views.get_many(["1000000000002", "1000000000009", "1000000000001"] * 2)
    assert sorted(found) == ["1000000000001", "1000000000002"]
    assert found["1000000000002"]["version"] == 2
    assert await views.get_many([]) == {}
