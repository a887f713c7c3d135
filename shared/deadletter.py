"""Dead letters: what a consumer could not process, kept with its reason.

A dead letter is the original message (same key, same value bytes, same headers)
republished to ``healthlink.deadletter`` with ``hl-dlq-*`` headers saying why,
where it came from and when. A retry publishes the original back to its source
topic, so handlers see exactly what the producer sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from shared import topics
from shared.broker import Publisher

PREFIX = "hl-dlq-"


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


def dead_letter_headers(
    source: SourceMessage, *, service: str, reason: str, detail: str, topic_prefix: str
) -> dict[str, str]:
    """The original headers plus the ``hl-dlq-*`` ones (source topic without prefix)."""
    headers = dict(source.headers)
    headers.update(
        {
            PREFIX + "id": str(uuid.uuid4()),
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


class DeadLetters:
    """Sets messages aside on the dead-letter topic."""

    def __init__(self, publisher: Publisher, service: str, topic_prefix: str) -> None:
        self._publisher = publisher
        self._service = service
        self._prefix = topic_prefix

    async def set_aside(self, source: SourceMessage, reason: str, detail: str) -> None:
        headers = dead_letter_headers(
            source, service=self._service, reason=reason, detail=detail, topic_prefix=self._prefix
        )
        await self._publisher.publish_raw(
            topics.DEAD_LETTERS, source.value, key=source.key, headers=headers
        )

    async def retry(self, letter: DeadLetter) -> None:
        """Send the original back to where it came from."""
        await self._publisher.publish_raw(
            letter.source.topic,
            letter.source.value,
            key=letter.source.key,
            headers=letter.source.headers,
        )
