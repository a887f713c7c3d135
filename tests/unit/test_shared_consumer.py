"""The Kafka edge: every message ends handled, set aside with a reason, or retried."""

from __future__ import annotations

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from shared.consumer import Guard
from shared.coverage import ConsentState
from shared.deadletter import SourceMessage
from shared.errors import Rejected, Transient
from shared.events import ConsentGranted, Envelope
from tests.support.events import envelope

pytestmark = pytest.mark.unit


class FakeDeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[SourceMessage, str, str]] = []

    async def set_aside(self, source: SourceMessage, reason: str, detail: str) -> None:
        self.letters.append((source, reason, detail))


def guarded_broker(
    handler_log: list[Envelope], fail: Exception | None = None, limit: int = 3
) -> tuple[KafkaBroker, FakeDeadLetters]:
    broker = KafkaBroker()
    dead = FakeDeadLetters()
    guard = Guard(dead, retry_limit=limit, backoff_s=0)  # type: ignore[arg-type]

    async def handler(event: Envelope) -> None:
        if fail is not None:
            raise fail
        handler_log.append(event)

    broker.subscriber("t.events", group_id="svc")(guard.raw(guard.event_handler(handler)))
    return broker, dead


def event() -> bytes:
    granted = ConsentGranted(version=1, state=ConsentState())
    return envelope(granted, "1101700230708").model_dump_json().encode()


async def test_a_valid_event_reaches_the_handler() -> None:
    seen: list[Envelope] = []
    broker, dead = guarded_broker(seen)
    async with TestKafkaBroker(broker) as br:
        await br.publish(event(), "t.events", headers={"x-correlation-id": "c1"})
    assert [e.name for e in seen] == ["consent.granted"]
    assert dead.letters == []


async def test_an_unreadable_message_is_set_aside_with_its_bytes() -> None:
    seen: list[Envelope] = []
    broker, dead = guarded_broker(seen)
    async with TestKafkaBroker(broker) as br:
        await br.publish(b"\x00garbage", "t.events")
    assert seen == []
    [(source, reason, _)] = dead.letters
    assert reason == "malformed-event" and source.value == b"\x00garbage"


async def test_a_rejected_message_is_set_aside_with_the_handlers_reason() -> None:
    broker, dead = guarded_broker([], fail=Rejected("no consent", code="no-consent"))
    async with TestKafkaBroker(broker) as br:
        await br.publish(event(), "t.events")
    assert [reason for _, reason, _ in dead.letters] == ["no-consent"]


async def test_a_transient_failure_is_raised_so_the_offset_is_not_committed() -> None:
    guard = Guard(FakeDeadLetters(), retry_limit=3, backoff_s=0)  # type: ignore[arg-type]
    source = SourceMessage("t", 0, 5, None, event(), {})

    async def down(_: SourceMessage) -> None:
        raise Transient("database away")

    with pytest.raises(Transient):
        await guard.run(source, down)


async def test_a_poison_message_is_set_aside_after_the_retry_limit() -> None:
    dead = FakeDeadLetters()
    guard = Guard(dead, retry_limit=3, backoff_s=0)  # type: ignore[arg-type]
    source = SourceMessage("t", 0, 7, None, event(), {})

    async def buggy(_: SourceMessage) -> None:
        raise ValueError("bug")

    for _ in range(2):
        with pytest.raises(ValueError):
            await guard.run(source, buggy)
    await guard.run(source, buggy)  # third attempt: set aside, not raised
    assert [reason for _, reason, _ in dead.letters] == ["handler-failed"]
