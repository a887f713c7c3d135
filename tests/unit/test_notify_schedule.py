"""Announcement slots for newly participating hospitals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notify.schedule import latest_due_slot, slot_key

pytestmark = pytest.mark.unit

BKK = ZoneInfo("Asia/Bangkok")


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def bkk(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BKK)


def test_15th_and_30th_at_noon_bangkok_are_0500_utc() -> None:
    slots = [latest_due_slot(bkk(2026, 4, 20)), latest_due_slot(bkk(2026, 5, 1))]
    assert slots == [utc(2026, 4, 15, 5), utc(2026, 4, 30, 5)]
    assert all(s.tzinfo is UTC for s in slots)
    assert [s.astimezone(BKK).hour for s in slots] == [12, 12]


def test_february_uses_its_last_day() -> None:
    assert latest_due_slot(bkk(2026, 2, 28, 11, 59)) == utc(2026, 2, 15, 5)
    assert latest_due_slot(bkk(2026, 3, 1)) == utc(2026, 2, 28, 5)


def test_february_in_a_leap_year_2028() -> None:
    assert latest_due_slot(bkk(2028, 2, 28, 13)) == utc(2028, 2, 15, 5)
    assert latest_due_slot(bkk(2028, 3, 1)) == utc(2028, 2, 29, 5)


def test_month_with_31_days_uses_the_30th() -> None:
    assert latest_due_slot(bkk(2026, 1, 31, 13)) == utc(2026, 1, 30, 5)


def test_a_slot_is_due_from_its_exact_time() -> None:
    slot = utc(2026, 3, 15, 5)
    assert latest_due_slot(slot) == slot
    assert latest_due_slot(slot - timedelta(seconds=1)) == utc(2026, 2, 28, 5)


def test_slots_across_a_year_boundary() -> None:
    assert latest_due_slot(bkk(2027, 1, 10)) == utc(2026, 12, 30, 5)
    assert latest_due_slot(bkk(2027, 1, 20)) == utc(2027, 1, 15, 5)


def test_a_whole_year_has_24_slots() -> None:
    slots, slot = [], latest_due_slot(utc(2028, 1, 1))
    while slot >= utc(2027, 1, 1):
        slots.append(slot)
        slot = latest_due_slot(slot - timedelta(seconds=1))
    assert len(slots) == 24
    assert [s.astimezone(BKK).day for s in slots[-4:]] == [28, 15, 30, 15]  # Feb, Jan


def test_bangkok_local_date_late_in_the_utc_previous_day() -> None:
    # 2026-03-31 18:00 UTC is already 1 April 01:00 in Bangkok.
    assert latest_due_slot(utc(2026, 3, 31, 18)) == utc(2026, 3, 30, 5)
    assert latest_due_slot(utc(2026, 4, 16)) == utc(2026, 4, 15, 5)


def test_just_before_and_after_noon_on_the_15th() -> None:
    before, after = bkk(2026, 5, 15, 11, 59), bkk(2026, 5, 15, 12, 1)
    assert latest_due_slot(before) == utc(2026, 4, 30, 5)
    assert latest_due_slot(after) == utc(2026, 5, 15, 5)


def test_latest_due_slot_includes_the_exact_slot() -> None:
    assert latest_due_slot(bkk(2026, 5, 15, 12)) == utc(2026, 5, 15, 5)


def test_latest_due_slot_at_the_start_of_a_year() -> None:
    assert latest_due_slot(bkk(2027, 1, 1, 0, 0)) == utc(2026, 12, 30, 5)


def test_other_timezones_are_accepted() -> None:
    new_york = datetime(2026, 6, 15, 1, 0, tzinfo=timezone(timedelta(hours=-4)))
    assert latest_due_slot(new_york) == utc(2026, 6, 15, 5)


def test_slot_key() -> None:
    assert slot_key(utc(2026, 2, 28, 5)) == "2026-02-28T12:00+07:00"
    assert slot_key(bkk(2026, 1, 15, 12)) == "2026-01-15T12:00+07:00"
    with pytest.raises(ValueError):
        slot_key(utc(2026, 2, 27, 5))


@pytest.mark.parametrize(
    "call",
    [
        lambda: latest_due_slot(datetime(2026, 1, 1)),
        lambda: slot_key(datetime(2026, 1, 15, 12)),
    ],
)
def test_naive_datetimes_raise(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()


instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(instants)
def test_property_the_latest_slot_and_the_one_before(now: datetime) -> None:
    latest = latest_due_slot(now)
    assert latest <= now < latest + timedelta(days=17)
    assert latest_due_slot(latest) == latest
    before = latest_due_slot(latest - timedelta(microseconds=1))
    assert timedelta(days=13) <= latest - before <= timedelta(days=16)
    assert slot_key(latest).endswith("T12:00+07:00")
    assert latest.astimezone(BKK).day in (15, 28, 29, 30)
