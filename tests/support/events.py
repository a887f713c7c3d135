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


def access_data(cid: str, time: object, **fields: Any) -> dict[str, Any]:
    """The data of a ``record.accessed`` event: physician 12345 of hospital 11535 read
    ``cid``'s records with consent at ``time``; ``fields`` change or add any of it."""
    return {
        "physician": "12345",
        "physician_name": "นพ. ทดสอบ",
        "hospital": "11535",
        "patient": cid,
        "purpose": "TREAT",
        "decision": "permit",
        "reason": "consent",
        "categories": ["medication"],
        "break_glass": False,
        "time": time,
        **fields,
    }
