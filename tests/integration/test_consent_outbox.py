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
