"""Dead letters: what a consumer could not process, kept with its reason.

A dead letter is the original message (same key, same value bytes, same headers)
republished to ``healthlink.deadletter`` with ``hl-dlq-*`` headers saying why,
where it came from and when. A retry publishes the original back to its source
topic, so handlers see exactly what the producer sent, then notes the retry on
``healthlink.deadletter.retries`` (key: the letter's id), so the tooling shows
the letter as retried and "retry all" does not send it twice. Sending it twice
would change nothing anyway: every handler is idempotent.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from healthlink_adapter.contract import (
    CONTENT_TYPE_HEADER,
    CORRELATION_HEADER,
    HOSPITAL_HEADER,
    UPLOAD_ID_HEADER,
)

from shared import topics
from shared.broker import Publisher

if TYPE_CHECKING:
    from shared.metrics import Metrics

PREFIX = "hl-dlq-"
RETRY_OF = PREFIX + "retry-of"
RETRIED_BY = PREFIX + "retried-by"
# Headers safe to show an operator: ids and content types, never the signature.
SAFE_HEADERS = (
    HOSPITAL_HEADER,
    UPLOAD_ID_HEADER,
    CONTENT_TYPE_HEADER,
    "ce-type",
    CORRELATION_HEADER,
)


@dataclass(frozen=True)
class SourceMessage:
    """Where a message came from and what it was, byte for byte."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class DeadLetter:
    """A message set aside, as read back from the dead-letter topic."""

    id: str
    reason: str
    detail: str
    service: str
    source: SourceMessage
    time: str

    @classmethod
    def from_record(cls, key: bytes | None, value: bytes, headers: dict[str, str]) -> DeadLetter:
        original = {k: v for k, v in headers.items() if not k.startswith(PREFIX)}
        source = SourceMessage(
            topic=headers.get(PREFIX + "topic", ""),
            partition=int(headers.get(PREFIX + "partition", "-1")),
            offset=int(headers.get(PREFIX + "offset", "-1")),
            key=key,
            value=value,
            headers=original,
        )
        return cls(
            id=headers.get(PREFIX + "id", ""),
            reason=headers.get(PREFIX + "reason", ""),
            detail=headers.get(PREFIX + "detail", ""),
            service=headers.get(PREFIX + "service", ""),
            source=source,
            time=headers.get(PREFIX + "time", ""),
        )


LETTER_IDS = uuid.UUID("5f0c3a52-6c1e-4d0b-9a57-2f1f6b1d8e40")  # namespace of letter ids


def letter_id(source: SourceMessage, service: str) -> str:
    """The same record set aside again (a redelivery) gets the same id; others a new one."""
    if source.offset < 0:  # not read from a partition: nothing to repeat
        return str(uuid.uuid4())
    where = f"{service}|{source.topic}|{source.partition}|{source.offset}"
    return str(uuid.uuid5(LETTER_IDS, where))


def dead_letter_headers(
    source: SourceMessage, *, service: str, reason: str, detail: str, topic_prefix: str
) -> dict[str, str]:
    """The original headers plus the ``hl-dlq-*`` ones (source topic without prefix)."""
    headers = dict(source.headers)
    headers.update(
        {
            PREFIX + "id": letter_id(source, service),
            PREFIX + "reason": reason,
            PREFIX + "detail": detail[:1000],
            PREFIX + "service": service,
            PREFIX + "topic": source.topic.removeprefix(topic_prefix),
            PREFIX + "partition": str(source.partition),
            PREFIX + "offset": str(source.offset),
            PREFIX + "time": datetime.now(UTC).isoformat(),
        }
    )
    return headers


def preview(value: bytes) -> dict[str, Any]:
    """What an operator may see of a payload: its size and shape, never its content.

    A FHIR Bundle shows its resourceType counts; an event shows its type and subject
    (an id); anything else shows only its size.
    """
    shown: dict[str, Any] = {"bytes": len(value)}
    try:
        body = json.loads(value)
    except ValueError:
        shown["kind"] = "unreadable"
        return shown
    if not isinstance(body, dict):
        shown["kind"] = "json"
        return shown
    if body.get("resourceType") == "Bundle":
        raw = body.get("entry")
        entries: list[Any] = raw if isinstance(raw, list) else []
        types = Counter(
            str(e["resource"].get("resourceType", "?"))
            for e in entries
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        )
        shown.update(kind="fhir-bundle", resource_types=dict(sorted(types.items())))
    elif "resourceType" in body:
        shown.update(kind="fhir-resource", resource_types={str(body["resourceType"]): 1})
    elif "specversion" in body and "type" in body:
        shown.update(kind="event", event_type=body.get("type"), subject=body.get("subject"))
    else:
        shown["kind"] = "json"
    return shown


def describe(letter: DeadLetter, retried_at: str | None = None) -> dict[str, Any]:
    """A dead letter as the admin API and CLI show it (no payload content)."""
    return {
        "id": letter.id,
        "reason": letter.reason,
        "detail": letter.detail,
        "service": letter.service,
        "time": letter.time,
        "source": {
            "topic": letter.source.topic,
            "partition": letter.source.partition,
            "offset": letter.source.offset,
        },
        "headers": {k: v for k, v in letter.source.headers.items() if k in SAFE_HEADERS},
        "preview": preview(letter.source.value),
        "status": "retried" if retried_at else "pending",
        "retried_at": retried_at,
    }


class DeadLetters:
    """Sets messages aside on the dead-letter topic, and sends them back on retry."""

    def __init__(
        self,
        publisher: Publisher,
        service: str,
        topic_prefix: str,
        metrics: Metrics | None = None,
    ) -> None:
        self._publisher = publisher
        self._service = service
        self._prefix = topic_prefix
        self._metrics = metrics

    @property
    def service(self) -> str:
        """The service setting aside and retrying (its Kafka principal)."""
        return self._service

    async def set_aside(self, source: SourceMessage, reason: str, detail: str) -> None:
        headers = dead_letter_headers(
            source, service=self._service, reason=reason, detail=detail, topic_prefix=self._prefix
        )
        await self._publisher.publish_raw(
            topics.DEAD_LETTERS, source.value, key=source.key, headers=headers
        )
        if self._metrics is not None:
            self._metrics.count_dead_letter(source.topic, reason)

    async def retry(self, letter: DeadLetter, by: str = "operator") -> None:
        """Send the original back to where it came from, then note the retry and who
        asked for it (``operator``, or ``hospital:<code>`` from the hospital console)."""
        await self._publisher.publish_raw(
            letter.source.topic,
            letter.source.value,
            key=letter.source.key,
            headers=letter.source.headers,
        )
        await self._publisher.publish_raw(
            topics.DEAD_LETTER_RETRIES,
            b"",
            key=letter.id.encode(),
            headers={
                RETRY_OF: letter.id,
                PREFIX + "time": datetime.now(UTC).isoformat(),
                PREFIX + "service": self._service,
                RETRIED_BY: by,
            },
        )
