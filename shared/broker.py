"""The broker factory and the one way every service publishes events.

Producers wait for all in-sync replicas (``acks="all"``) with idempotence on.
Consumers commit an offset only after the handler returned (``AckPolicy``
``NACK_ON_ERROR``: on an exception the consumer seeks back and the message comes
again), never FastStream's default of committing before processing.

Header values are read leniently (``readable_headers``): Kafka headers are bytes and
anyone who can write a topic chooses them, while FastStream's parser decodes them as
strict UTF-8. A value that is not UTF-8 would fail before any handler ran, the
message would come again forever and its partition would stop. Undecodable bytes
become backslash escapes (``\\xff``) instead, so the message reaches its handler, which
refuses it for its reason (a signature that cannot match: ``bad-signature``) and sets
it aside with its value intact.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy
from healthlink_adapter.contract import BATCH_BYTES, record_limit

from shared.events import Envelope, Event
from shared.kafka_client import faststream_options
from shared.logging import CORRELATION_HEADER, get_correlation_id
from shared.settings import Settings
from shared.topics import named

ACK_POLICY = AckPolicy.NACK_ON_ERROR
# BATCH_BYTES (records buffered per partition before a send waits: 512 kB, so bundles and
# records.stored parts queued meanwhile share one request) and the record limit come
# with the hospital wire contract, so hospitals' producers and the platform's agree.
# On stop, handlers in flight get this long to finish (a batch not finished is not
# committed and comes again); within the service's shutdown budget (shared/runtime.py).
GRACEFUL_S = 4.0


def readable_header(value: bytes | str | None) -> bytes:
    """A header value that decodes as UTF-8: undecodable bytes as ``\\xNN`` escapes."""
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace")
    try:
        value.decode()
    except UnicodeDecodeError:
        return value.decode("utf-8", "backslashreplace").encode()
    return value


async def readable_headers(msg: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream parser: the record(s) with every header value readable, then parsed."""
    for record in msg if isinstance(msg, tuple) else (msg,):
        record.headers = [(key, readable_header(value)) for key, value in record.headers]
    return await original(msg)


def max_message_bytes(settings: Settings) -> int:
    """The largest record the platform sends: a whole bundle (dead letters) plus headers."""
    return record_limit(settings.max_bundle_bytes)


def make_broker(
    settings: Settings, service: str, *, principal: str = "", metadata_max_age_ms: int = 300_000
) -> KafkaBroker:
    """A broker for ``service``, connecting as its Kafka principal (``principal``, by
    default the service's own: shared/acl.py); it connects only when started. A pattern
    subscriber finds new topics when its metadata is refreshed (``metadata_max_age_ms``,
    aiokafka's default 5 minutes)."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        **faststream_options(settings, principal or service),
        client_id=f"healthlink-{service}",
        acks="all",
        enable_idempotence=True,
        ack_policy=ACK_POLICY,
        max_request_size=max_message_bytes(settings),
        max_batch_size=BATCH_BYTES,
        graceful_timeout=GRACEFUL_S,
        metadata_max_age_ms=metadata_max_age_ms,
        logger=None,
    )


def subscriber_options(settings: Settings, service: str) -> dict[str, object]:
    """Consumer options every subscriber uses: group = service, commit after success."""
    return {
        "group_id": f"{settings.topic_prefix}{service}",
        "auto_offset_reset": "earliest",
        "ack_policy": ACK_POLICY,
        "max_poll_interval_ms": 300_000,
        "parser": readable_headers,
    }


class Publisher:
    """Publishes envelopes to a topic, keyed by subject, with the correlation id header."""

    def __init__(self, broker: KafkaBroker, settings: Settings) -> None:
        self._broker = broker
        self._prefix = settings.topic_prefix

    def topic(self, name: str) -> str:
        return named(name, self._prefix)

    async def publish(self, topic: str, event: Envelope) -> None:
        correlation_id = event.correlationid or get_correlation_id()
        headers = {"content-type": "application/cloudevents+json", "ce-type": event.type}
        if correlation_id:
            headers[CORRELATION_HEADER] = correlation_id
        await self._broker.publish(
            event.model_dump_json().encode(),
            self.topic(topic),
            key=event.subject.encode(),
            headers=headers,
            correlation_id=correlation_id,
        )

    async def publish_raw(
        self, topic: str, value: bytes, *, key: bytes | None, headers: dict[str, str]
    ) -> None:
        """Publish bytes as they are (uploads, dead letters, retries)."""
        await self._broker.publish(value, self.topic(topic), key=key, headers=headers)


class EventPublisher(Protocol):
    """The port use cases publish through (``Publisher``; ``RecordingPublisher`` in tests)."""

    async def publish(self, topic: str, event: Envelope) -> None: ...


class RawPublisher(EventPublisher, Protocol):
    async def publish_raw(
        self, topic: str, value: bytes, *, key: bytes | None, headers: dict[str, str]
    ) -> None: ...


class RecordingPublisher:
    """The in-memory fake: keeps what was published, ``(topic, envelope)`` pairs."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Envelope]] = []
        self.raw: list[tuple[str, bytes, bytes | None, dict[str, str]]] = []

    async def publish(self, topic: str, event: Envelope) -> None:
        self.sent.append((topic, event))

    async def publish_raw(
        self, topic: str, value: bytes, *, key: bytes | None, headers: dict[str, str]
    ) -> None:
        self.raw.append((topic, value, key, headers))

    def names(self, topic: str | None = None) -> list[str]:
        return [e.name for t, e in self.sent if topic is None or t == topic]

    def of(self, kind: type[Event]) -> list[Envelope]:
        """What was published of ``kind`` (its subtypes included)."""
        types = {k.TYPE for k in _family(kind)}
        return [e for _, e in self.sent if e.type in types]


def _family(kind: type[Event]) -> list[type[Event]]:
    return [kind, *(k for sub in kind.__subclasses__() for k in _family(sub))]
