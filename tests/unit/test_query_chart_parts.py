"""Chart parts (pure): which entries land, how parts combine, when parts are folded."""

from __future__ import annotations

import pytest

from services.query.chartparts import PARTS_BEFORE_COMPACTION, folding
from services.query.charts import Entry, combine, landing, ranks_of

pytestmark = pytest.mark.unit


def entry(rid: str, rank: str, t: float | None = None) -> Entry:
    return {"type": "Observation", "id": rid, "rank": rank, "t": t, "json": "{}"}


def test_only_new_resources_and_higher_ranks_land() -> None:
    held = ranks_of([entry("a", "2"), entry("b", "1")])
    fresh = landing(held, [entry("a", "1"), entry("a", "2"), entry("b", "3"), entry("c", "1"),
                           entry("c", "0")])  # fmt: skip
    assert sorted((e["id"], e["rank"]) for e in fresh) == [("b", "3"), ("c", "1")]


def test_combining_parts_keeps_each_resource_once_at_its_highest_rank() -> None:
    merged = combine([[entry("a", "1", 10.0), entry("b", "1", 30.0)],
                      [entry("a", "2", 20.0)]])  # fmt: skip
    assert [(e["id"], e["rank"]) for e in merged] == [("b", "1"), ("a", "2")]  # newest first


def test_parts_fold_into_the_recent_ones_first_then_into_one() -> None:
    k = PARTS_BEFORE_COMPACTION
    parts = [f"p{i}" for i in range(k)]
    assert folding(parts[:-1], [100] * (k - 1), 5) == (k - 1, [])
    assert folding(parts, [1000] + [10] * (k - 1), 5) == (1, parts[1:])
    assert folding(parts, [50] + [10] * (k - 1), 5) == (0, parts)
