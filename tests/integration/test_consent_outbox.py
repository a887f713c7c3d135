"""The consent outbox on the real database: a published event leaves it."""

from __future__ import annotations

import pytest

from services.consent.repository import MongoConsentRepository
from shared.database import make_client
from shared.events import HospitalRegistered
from shared.settings import Settings
from tests.support.events import raw

pytestmark = pytest.mark.integration


async def test_a_published_event_leaves_the_outbox(settings: Settings) -> None:
    client = make_client(settings)
    try:
        repo = MongoConsentRepository(client[settings.db_name("consent")])
        first = raw(HospitalRegistered, "10670", {"version": 1, "state": {"code": "10670"}})
        second = raw(HospitalRegistered, "10670", {"version": 2, "state": {"code": "10670"}})
        assert await repo.save("hospitals", "10670", 0, {"code": "10670"}, [first], {})
        assert await repo.save("hospitals", "10670", 1, {"code": "10670"}, [second], {})
        await repo.published("hospitals", "10670", first.id)
        assert [e.id for _, e in await repo.pending("hospitals")] == [second.id]
        await repo.published("hospitals", "10670", second.id)
        assert await repo.pending("hospitals") == []
    finally:
        await client.close()


async def test_events_published_together_leave_the_outbox_in_one_write(
    settings: Settings,
) -> None:
    client = make_client(settings)
    try:
        db = client[settings.db_name("consent")]
        repo = MongoConsentRepository(db)
        made = [
            raw(HospitalRegistered, "10670", {"version": v, "state": {"code": "10670"}})
            for v in (1, 2, 3)
        ]
        assert await repo.save("hospitals", "10670", 0, {"code": "10670"}, made, {})
        await repo.published("hospitals", "10670", made[0].id, made[2].id)
        assert [e.id for _, e in await repo.pending("hospitals")] == [made[1].id]
        assert (await db.hospitals.find_one({"_id": "10670"}))["outbox_pending"] is True
        await repo.published("hospitals", "10670", made[1].id, "not-in-the-outbox")
        assert await repo.pending("hospitals") == []
        assert "outbox_pending" not in await db.hospitals.find_one({"_id": "10670"})
    finally:
        await client.close()
