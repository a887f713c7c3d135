"""What audit keeps of each consumed message: the hashed body and the searchable index.

Every topic audit reads has a short name; a record's chain key is that name plus the
Kafka partition (``access.p3``), so each chain has exactly one writer at a time.

- Envelope topics (access, consent, hospital, security): the body is the whole
  CloudEvents envelope as JSON; idempotency key = the event id.
- The dead-letter topic: the body is the ``hl-dlq-*`` metadata, the original headers
  (minus signatures) and the SHA-256 and size of the payload, never the payload itself
  (an upload holds clinical data); idempotency key = ``dlq:`` + the ``hl-dlq-id`` header.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from healthlink_adapter.contract import HOSPITAL_HEADER, SIGNATURE_HEADER

from shared import topics
from shared.deadletter import PREFIX, SourceMessage
from shared.events import Envelope

KINDS: dict[str, str] = {
    topics.ACCESS_EVENTS: "access",
    topics.CONSENT_EVENTS: "consent",
    topics.HOSPITAL_EVENTS: "hospital",
    topics.SECURITY_EVENTS: "security",
    topics.DEAD_LETTERS: "deadletter",
}
ENVELOPE_TOPICS = (
    topics.ACCESS_EVENTS,
    topics.CONSENT_EVENTS,
    topics.HOSPITAL_EVENTS,
    topics.SECURITY_EVENTS,
)
SECRET_HEADERS = frozenset({SIGNATURE_HEADER, "authorization"})
SET_ASIDE = "message.set_aside"  # the index type of a dead letter (not an event)


@dataclass(frozen=True)
class Entry:
    """One message as audit stores it: chain, idempotency key, hashed body, index."""

    chain: str
    event_id: str
    body: dict[str, Any]
    index: dict[str, Any]


def chain_key(kind: str, partition: int) -> str:
    return f"{kind}.p{partition}"


def parse_time(value: object) -> datetime | None:
    """An ISO-8601 time as an aware UTC datetime (no zone: UTC); None when unreadable."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 lies beyond year 9999 in UTC
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def from_envelope(kind: str, partition: int, event: Envelope) -> Entry:
    """An access, consent, hospital or security event."""
    data = event.data
    patient = _str(data.get("patient"))
    hospital = _str(data.get("hospital"))
    if kind == "consent":
        patient = patient or event.subject
    if kind == "hospital":
        hospital = hospital or event.subject
    index = {
        "kind": kind,
        "type": event.name,
        "time": parse_time(data.get("time")) or event.time,
        "patient": patient,
        "physician": _str(data.get("physician")),
        "hospital": hospital,
        "decision": _str(data.get("decision")),
        "break_glass": bool(data.get("break_glass", False)),
    }
    return Entry(chain_key(kind, partition), event.id, event.model_dump(mode="json"), index)


def from_dead_letter(source: SourceMessage, now: datetime) -> Entry:
    """An upload or event set aside, with its reason; the payload only as a digest."""
    headers = source.headers
    letter_id = (
        headers.get(PREFIX + "id")
        or hashlib.sha256(f"{source.topic}:{source.partition}:{source.offset}".encode()).hexdigest()
    )
    original = {
        k: v for k, v in headers.items() if not k.startswith(PREFIX) and k not in SECRET_HEADERS
    }
    body = {
        "id": letter_id,
        "reason": headers.get(PREFIX + "reason", ""),
        "detail": headers.get(PREFIX + "detail", ""),
        "service": headers.get(PREFIX + "service", ""),
        "topic": headers.get(PREFIX + "topic", ""),
        "partition": headers.get(PREFIX + "partition", ""),
        "offset": headers.get(PREFIX + "offset", ""),
        "time": headers.get(PREFIX + "time", ""),
        "headers": original,
        "bytes": len(source.value),
        "sha256": hashlib.sha256(source.value).hexdigest(),
    }
    index = {
        "kind": "deadletter",
        "type": SET_ASIDE,
        "time": parse_time(body["time"]) or now,
        "patient": None,
        "physician": None,
        "hospital": _str(headers.get(HOSPITAL_HEADER)),
        "decision": None,
        "break_glass": False,
    }
    return Entry(chain_key("deadletter", source.partition), f"dlq:{letter_id}", body, index)
