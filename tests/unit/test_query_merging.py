"""A batch of stored records is merged several patients at a time, one source after
another within a patient, and a failed merge fails the batch with its own error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.query.handlers import MERGES_AT_ONCE, Batch, merge_stored
from services.query.repository import MemoryCharts
from shared.errors import Transient
from shared.events import StoredRecord
from tests.support.query_fakes import SOURCE_A, SOURCE_B, observation

pytestmark = pytest.mark.unit


class SlowCharts(MemoryCharts):
    """Merges that take a moment, watched: who merges at once; one patient may fail."""

    def __init__(self, failing: str = "") -> None:
        super().__init__()
        self.failing = failing
        self.merging: list[str] = []
        self.most = 0
        self.same_patient_at_once = False

    async def merge(
        self, cid: str, hospital: str, records: list[StoredRecord], listed: dict[str, Any] | None
    ) -> str:
        self.same_patient_at_once |= cid in self.merging
        self.merging.append(cid)
        self.most = max(self.most, len(self.merging))
        try:
            await asyncio.sleep(0.005)
            if cid == self.failing:
                raise Transient("the database did not answer")
            return await super().merge(cid, hospital, records, listed)
        finally:
            self.merging.remove(cid)


def batch_of(patients: int) -> Batch:
    return {
        (f"p{n:03d}", source): [observation(f"{source}-{n}")]
        for n in range(patients)
        for source in (SOURCE_A, SOURCE_B)
    }


async def test_patients_are_merged_several_at_a_time_and_a_patients_sources_in_turn() -> None:
    charts = SlowCharts()
    await merge_stored(charts, batch_of(3 * MERGES_AT_ONCE))
    assert charts.most == MERGES_AT_ONCE
    assert not charts.same_patient_at_once  # they share the patient's index document
    assert len(charts.charts) == 3 * MERGES_AT_ONCE
    assert all(set(chart) == {SOURCE_A, SOURCE_B} for chart in charts.charts.values())


async def test_a_failed_merge_fails_the_batch_with_its_own_error() -> None:
    charts = SlowCharts(failing="p005")
    with pytest.raises(Transient, match="did not answer"):
        await merge_stored(charts, batch_of(20))
    assert "p005" not in charts.charts  # redelivered: the done merges change nothing then
