"""When Health Link announces newly participating hospitals.

Slots are at 12:00 Asia/Bangkok on the 15th and the 30th of every month; in a month without
a 30th (February) the second slot is on its last day. All inputs must be timezone-aware;
slots are returned in UTC. ``slot_key`` gives the stable id used for exactly-once claims.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

BANGKOK = ZoneInfo("Asia/Bangkok")
SLOT_TIME = time(12, 0)
SLOT_DAYS = (15, 30)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _month_slots(year: int, month: int) -> list[datetime]:
    """The month's two slots, in UTC."""
    last = calendar.monthrange(year, month)[1]
    days = sorted({min(day, last) for day in SLOT_DAYS})
    return [
        datetime.combine(date(year, month, day), SLOT_TIME, tzinfo=BANGKOK).astimezone(UTC)
        for day in days
    ]


def _shift(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def latest_due_slot(now: datetime) -> datetime:
    """The most recent slot at or before ``now``, in UTC."""
    _require_aware(now, "now")
    local = now.astimezone(BANGKOK)
    candidates = _month_slots(*_shift(local.year, local.month, -1))
    candidates += _month_slots(local.year, local.month)
    return max(s for s in candidates if s <= now)


def slot_key(slot: datetime) -> str:
    """Stable id of a slot in Bangkok time, e.g. ``2026-02-28T12:00+07:00``."""
    _require_aware(slot, "slot")
    local = slot.astimezone(BANGKOK)
    if slot not in _month_slots(local.year, local.month):
        raise ValueError("not an announcement slot")
    return local.isoformat(timespec="minutes")
