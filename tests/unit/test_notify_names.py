"""Hospitals' names in notifications (``services/notify/names.py``): read from the view
together, kept ``ttl_s``, dropped when this process applies the hospital's event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notify.names import HospitalNames
from shared.coverage import HospitalState
from shared.projections import ConsentProjection, MemoryVersions

pytestmark = pytest.mark.unit
JOINED = datetime(2026, 3, 1, tzinfo=UTC)


class CountingVersions(MemoryVersions):
    def __init__(self) -> None:
        super().__init__()
        self.asked: list[list[str]] = []

    async def get_many(self, keys: list[str]) -> dict[str, dict[str, object]]:
        self.asked.append(list(keys))
        return await super().get_many(keys)


async def named(hospitals: CountingVersions, code: str, name: str, version: int) -> None:
    state = HospitalState(code=code, name=name, role="provider", joined_at=JOINED)
    await hospitals.apply(code, version, state.model_dump(mode="json"))


async def test_names_are_read_together_kept_a_while_and_forgotten_on_an_event() -> None:
    hospitals, now = CountingVersions(), [0.0]
    names = HospitalNames(ConsentProjection(MemoryVersions(), hospitals), 60.0, lambda: now[0])
    await named(hospitals, "10670", "Siriraj", 1)
    await named(hospitals, "11535", "Chulalongkorn", 1)
    found = await names.of(["10670", "11535", "99999", "10670"])
    assert found == {"10670": "Siriraj", "11535": "Chulalongkorn", "99999": "99999"}
    assert hospitals.asked == [["10670", "11535", "99999"]]  # one read, each once
    await named(hospitals, "10670", "Siriraj Piyamaharajkarun", 2)
    assert await names.one("10670") == "Siriraj"  # kept: display text, up to ttl_s old
    assert await names.one("99999") == "99999" and hospitals.asked[-1] == [
        "99999"
    ]  # unknown: not kept
    names.forget("10670")  # this process applied the hospital's event
    assert await names.one("10670") == "Siriraj Piyamaharajkarun"
    await named(hospitals, "11535", "King Chulalongkorn Memorial", 2)
    now[0] = 61.0
    assert await names.one("11535") == "King Chulalongkorn Memorial"
    assert await names.one(None) == "-"
