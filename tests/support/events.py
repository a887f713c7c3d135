"""Events for tests: typed ones as producers make them, raw ones for edge cases."""

from __future__ import annotations

from typing import Any

from shared.events import Envelope, Event


def envelope(payload: Event, subject: str, *, event_id: str | None = None) -> Envelope:
    """``payload`` in its envelope, as a producer of the platform would send it."""
    return payload.envelope(source="test", subject=subject, event_id=event_id)


def raw(kind: type[Event], subject: str, data: dict[str, Any]) -> Envelope:
    """An envelope of ``kind``'s type with any ``data`` (malformed on purpose, or partial
    for readers that keep envelopes whole, such as audit)."""
    return Envelope(source="test", type=kind.TYPE, subject=subject, data=data)
