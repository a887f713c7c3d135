"""Which hospitals an announcement lists."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notify.domain import joined_between

pytestmark = pytest.mark.unit
SINCE, UNTIL = datetime(2026, 1, 15, 5, tzinfo=UTC), datetime(2026, 1, 30, 5, tzinfo=UTC)


def hospital(code: str, name: str, **state: object) -> dict[str, object]:
    return {"_id": code, "state": {"code": code, "name": name, **state}}


def test_joined_or_became_provider_in_the_window_sorted_by_name() -> None:
    docs = [
        hospital("1", "Zeta", joined_at="2026-01-20T00:00:00+00:00"),
        hospital(
            "2",
            "Alpha",
            joined_at="2025-01-01T00:00:00+00:00",
            provider_since="2026-01-30T05:00:00+00:00",
        ),
        hospital("3", "Before", joined_at="2026-01-15T05:00:00+00:00"),  # exclusive start
        hospital("4", "Later", joined_at="2026-01-30T05:00:01+00:00"),
        hospital("5", "Gone", joined_at="2026-01-20T00:00:00+00:00", active=False),
        hospital("6", "Odd", joined_at="not a time"),
    ]
    assert [h["name"] for h in joined_between(docs, SINCE, UNTIL)] == ["Alpha", "Zeta"]
