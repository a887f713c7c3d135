"""The Kafka edge: every message ends handled, set aside with a reason, or retried."""

from __future__ import annotations

import pytest
from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from faststream.kafka.parser import AioKafkaParser

from shared.broker import readable_header, readable_headers
from shared.consumer import Guard, source_of_record
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


def test_header_values_that_are_not_utf8_become_escapes() -> None:
    assert readable_header(b"sha256=abc") == b"sha256=abc"
    assert readable_header(b"\xff\xfe\x80") == b"\\xff\\xfe\\x80"
    assert readable_header(None) == b""
    assert readable_header("é") == "é".encode()


async def test_a_record_with_undecodable_headers_still_parses() -> None:
    record = ConsumerRecord(
        topic="t.uploads", partition=0, offset=7, timestamp=0, timestamp_type=0,
        key=b"k", value=b"{}", checksum=None, serialized_key_size=1,
        serialized_value_size=2, headers=[("hl-signature", b"\xff\xfe\x80"), ("n", None)],
    )  # fmt: skip
    strict = AioKafkaParser(KafkaMessage, None)
    with pytest.raises(UnicodeDecodeError):
        await strict.parse_message(record)
    parsed = await readable_headers(record, strict.parse_message)
    assert parsed.headers == {"hl-signature": "\\xff\\xfe\\x80", "n": ""}
    source = source_of_record(record)
    assert source.headers["hl-signature"] == "\\xff\\xfe\\x80"
    assert source.value == b"{}", "the value is kept as it came"
