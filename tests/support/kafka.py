"""Raw Kafka access for tests: publish anything, read a topic from the beginning.

These play other parties (a forger, another service, an observer), so they connect as
the platform's admin principal; tests of the ACLs themselves connect as the principal
under test (tests/integration/test_kafka_security.py)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared import topics
from shared.deadletter import DeadLetter
from shared.kafka_client import ADMIN, client_options
from shared.settings import Settings


async def publish_raw(
    settings: Settings,
    topic: str,
    value: bytes,
    key: bytes | None = None,
    headers: dict[str, str | bytes] | None = None,
) -> None:
    producer = AIOKafkaProducer(
        **client_options(settings, ADMIN), acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.named(topic, settings.topic_prefix),
            value,
            key=key,
            headers=[
                (k, v if isinstance(v, bytes) else v.encode()) for k, v in (headers or {}).items()
            ],
        )
    finally:
        await producer.stop()


@asynccontextmanager
async def from_the_start(settings: Settings, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer of ``topic`` from its first record, in no group (commits nothing)."""
    consumer = AIOKafkaConsumer(
        topics.named(topic, settings.topic_prefix),
        **client_options(settings, ADMIN),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def dead_letters(
    settings: Settings, at_least: int, timeout_s: float = 30.0
) -> list[DeadLetter]:
    """Read the dead-letter topic until ``at_least`` letters arrived (or time out)."""
    found: list[DeadLetter] = []
    deadline = time.monotonic() + timeout_s
    async with from_the_start(settings, topics.DEAD_LETTERS) as consumer:
        while len(found) < at_least and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    headers = {k: v.decode() for k, v in r.headers}
                    found.append(DeadLetter.from_record(r.key, r.value or b"", headers))
    return found


async def read_events(
    settings: Settings, topic: str, at_least: int, timeout_s: float = 30.0, *, drain: bool = False
) -> list[tuple[str, dict[str, object]]]:
    """``(key, envelope)`` of a topic's events from the beginning, until ``at_least``; with
    ``drain``, on until a poll finds nothing more (so extra events are seen too)."""
    found: list[tuple[str, dict[str, object]]] = []
    deadline = time.monotonic() + timeout_s
    async with from_the_start(settings, topic) as consumer:
        while time.monotonic() < deadline and (drain or len(found) < at_least):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                found += [((r.key or b"").decode(), json.loads(r.value or b"{}")) for r in records]
            if drain and len(found) >= at_least and not batch:
                break
    return found
