"""FHIR date / dateTime / instant values as UTC ranges (pure).

A value of precision year, month, day or second stands for the interval it names:
``2024`` is [2024-01-01, 2025-01-01). Values without a zone are read as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def instant_range(value: str) -> tuple[float, float]:
    """The UTC epoch-second interval [low, high) a FHIR date value names; ``ValueError``."""
    match = _DATE.match(value)
    if not match:
        raise ValueError(f"not a FHIR date: {value[:40]!r}")
    year, month, day = match["y"], match["m"], match["d"]
    if month is None:
        low = datetime(int(year), 1, 1, tzinfo=UTC)
        return low.timestamp(), datetime(int(year) + 1, 1, 1, tzinfo=UTC).timestamp()
    if day is None:
        low = datetime(int(year), int(month), 1, tzinfo=UTC)
        high = datetime(int(year) + int(month) // 12, int(month) % 12 + 1, 1, tzinfo=UTC)
        return low.timestamp(), high.timestamp()
    if match["time"] is None:
        low = datetime(int(year), int(month), int(day), tzinfo=UTC)
        return low.timestamp(), (low + timedelta(days=1)).timestamp()
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    step = 1.0 if match["time"].count(":") == 2 else 60.0
    return moment.timestamp(), moment.timestamp() + step


def instant_or_none(value: object) -> float | None:
    """The start of a stored date, or None when it is missing or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return instant_range(value)[0]
    except ValueError:
        return None
