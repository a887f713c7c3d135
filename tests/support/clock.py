"""A clock tests set by hand: ``clock.now = ...``; services call ``clock()``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)  # BSON keeps milliseconds only


@dataclass
class Clock:
    now: datetime = field(default_factory=_now)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Seconds:
    """The same in seconds since the epoch (what ``time.time`` gives)."""

    now: float = 1_780_000_000.0  # 2026-05-28 UTC

    def __call__(self) -> float:
        return self.now
