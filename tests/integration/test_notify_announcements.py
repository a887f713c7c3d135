"""The semi-monthly announcement, with a controlled clock, on the real database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.announcements import Announcer
from services.notify.app import database_deps
from services.notify.repository import Inbox
from services.notify.settings import NotifySettings
from shared.database import Document, make_client
from shared.settings import Settings

pytestmark = pytest.mark.integration
BKK = ZoneInfo("Asia/Bangkok")
ALL, SOME = "1100700000001", "1100700000002"


def bkk(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BKK)


@pytest.fixture
async def db(stack_settings: Settings) -> AsyncIterator[AsyncDatabase[Document]]:
    client = make_client(stack_settings)
    found = client[f"{stack_settings.db_prefix}_ann_{uuid.uuid4().hex[:8]}"]
    await found.consent_view.insert_many(
        [
            {"_id": ALL, "version": 1, "state": {"all_hospitals": True, "hospitals": []}},
            {"_id": SOME, "version": 1, "state": {"all_hospitals": False, "hospitals": ["1"]}},
        ]
    )
    await found.patients.insert_many([{"_id": ALL}, {"_id": SOME}])
    yield found
    await client.close()


async def joined(db: AsyncDatabase[Document], code: str, name: str, at: datetime) -> None:
    state = {"code": code, "name": name, "role": "provider", "joined_at": at.isoformat()}
    await db.hospital_view.insert_one({"_id": code, "version": 1, "state": state})


def instance(client_db: AsyncDatabase[Document], name: str) -> tuple[Announcer, Inbox]:
    """One notify instance's announcer (its own objects, the shared database)."""
    no_webhook = NotifySettings(webhook_url=None)
    deps = database_deps(client_db, no_webhook, clock=lambda: bkk(2026, 1, 1, 0))
    return Announcer(deps, name), deps.inbox


async def announcements(db: AsyncDatabase[Document], cid: str) -> list[Document]:
    cursor = db.inbox.find({"patient": cid, "kind": "hospitals-joined"}).sort("_id", 1)
    return [d async for d in cursor]


async def test_the_15th_at_noon_once_across_restarts_at_1159_and_1201(
    db: AsyncDatabase[Document],
) -> None:
    first, _ = instance(db, "a")
    assert await first.tick(bkk(2026, 4, 30, 12, 5)) == "2026-04-30T12:00+07:00"
    await joined(db, "10670", "Siriraj", bkk(2026, 5, 3, 9))
    restarted, _ = instance(db, "b")  # a restart at 11:59: nothing due yet
    assert await restarted.tick(bkk(2026, 5, 15, 11, 59)) is None
    assert await announcements(db, ALL) == []
    assert await restarted.tick(bkk(2026, 5, 15, 12, 0)) == "2026-05-15T12:00+07:00"
    again, _ = instance(db, "c")  # a restart at 12:01: already announced
    assert await again.tick(bkk(2026, 5, 15, 12, 1)) is None
    assert await again.tick(bkk(2026, 5, 20, 8)) is None
    [to_all] = await announcements(db, ALL)
    [to_some] = await announcements(db, SOME)
    assert "Siriraj" in to_all["body_en"] and "included automatically" in to_all["body_en"]
    assert "add them in your consent settings" in to_some["body_en"]
    assert "Siriraj" in to_some["body_th"]


async def test_the_30th_and_the_end_of_february(db: AsyncDatabase[Document]) -> None:
    announcer, _ = instance(db, "a")
    await announcer.tick(bkk(2026, 1, 15, 12))
    await joined(db, "11001", "Hospital January", bkk(2026, 1, 20, 10))
    assert await announcer.tick(bkk(2026, 1, 30, 12)) == "2026-01-30T12:00+07:00"
    assert await announcer.tick(bkk(2026, 1, 31, 12)) is None  # no slot on the 31st
    await joined(db, "11002", "Hospital February", bkk(2026, 2, 20, 10))
    assert await announcer.tick(bkk(2026, 2, 15, 12)) == "2026-02-15T12:00+07:00"
    assert await announcer.tick(bkk(2026, 2, 28, 12)) == "2026-02-28T12:00+07:00"
    bodies = [d["body_en"] for d in await announcements(db, SOME)]
    assert len(bodies) == 2  # the 15th of February had nobody new: no notification
    assert "Hospital January" in bodies[0] and "Hospital February" not in bodies[0]
    assert "Hospital February" in bodies[1] and "Hospital January" not in bodies[1]


async def test_two_instances_at_once_announce_once(
    db: AsyncDatabase[Document], stack_settings: Settings
) -> None:
    other_client: AsyncMongoClient[Document] = make_client(stack_settings)
    try:
        a, _ = instance(db, "a")
        b, _ = instance(other_client[db.name], "b")
        await a.tick(bkk(2026, 6, 30, 12))
        await joined(db, "10670", "Siriraj", bkk(2026, 7, 1, 9))
        won = await asyncio.gather(*(x.tick(bkk(2026, 7, 15, 12)) for x in (a, b, a, b)))
        assert sorted(w for w in won if w) == ["2026-07-15T12:00+07:00"]
        assert len(await announcements(db, ALL)) == 1
        assert len(await announcements(db, SOME)) == 1
    finally:
        await other_client.close()


async def test_after_downtime_the_missed_slot_fires_late_with_everything_since(
    db: AsyncDatabase[Document],
) -> None:
    announcer, _ = instance(db, "a")
    await announcer.tick(bkk(2026, 3, 15, 12))
    await joined(db, "11001", "Before the 30th", bkk(2026, 3, 20, 10))
    await joined(db, "11002", "After the 30th", bkk(2026, 4, 2, 10))
    # Down from the 29th of March to the 3rd of April: the 30th fires late, once.
    assert await announcer.tick(bkk(2026, 4, 3, 9)) == "2026-03-30T12:00+07:00"
    assert await announcer.tick(bkk(2026, 4, 3, 9, 1)) is None
    assert await announcer.tick(bkk(2026, 4, 15, 12)) == "2026-04-15T12:00+07:00"
    bodies = [d["body_en"] for d in await announcements(db, ALL)]
    assert len(bodies) == 2
    assert "Before the 30th" in bodies[0] and "After the 30th" in bodies[1]


async def test_a_crashed_fan_out_is_resumed_without_repeats(db: AsyncDatabase[Document]) -> None:
    announcer, _ = instance(db, "a")
    await announcer.tick(bkk(2026, 8, 15, 12))
    await joined(db, "10670", "Siriraj", bkk(2026, 8, 20, 9))
    await announcer.tick(bkk(2026, 8, 30, 12))
    # The crash: the slot stayed "claimed" and one patient's entry was lost.
    await db.announcements.update_one(
        {"_id": "2026-08-30T12:00+07:00"}, {"$set": {"state": "claimed"}}
    )
    await db.inbox.delete_one({"patient": SOME, "kind": "hospitals-joined"})
    restarted, _ = instance(db, "b")
    assert await restarted.tick(bkk(2026, 8, 30, 12, 1)) is None
    assert len(await announcements(db, ALL)) == 1 and len(await announcements(db, SOME)) == 1
    slot = await db.announcements.find_one({"_id": "2026-08-30T12:00+07:00"})
    assert slot is not None and slot["state"] == "done"
