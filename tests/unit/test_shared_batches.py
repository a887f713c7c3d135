"""Batches at the Kafka edge: each record ends handled, set aside alone, or retried."""

from __future__ import annotations

import pytest

from shared.consumer import Guard, Outcomes, one_by_one
from shared.deadletter import SourceMessage
from shared.errors import Rejected, Transient

pytestmark = pytest.mark.unit


class FakeDeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[int, str]] = []

    async def set_aside(self, source: SourceMessage, reason: str, detail: str) -> None:
        self.letters.append((source.offset, reason))


def records(n: int) -> list[SourceMessage]:
    return [SourceMessage("t", 0, i, None, f"r{i}".encode(), {}) for i in range(n)]


def guard(limit: int = 2) -> tuple[Guard, FakeDeadLetters]:
    dead = FakeDeadLetters()
    return Guard(dead, retry_limit=limit, backoff_s=0), dead  # type: ignore[arg-type]


async def test_rejected_records_are_set_aside_and_the_rest_handled_once() -> None:
    handled: list[int] = []

    async def batch(sources: list[SourceMessage]) -> Outcomes:
        outcomes: Outcomes = []
        for s in sources:
            if s.offset == 1:
                outcomes.append(Rejected("bad", code="bad-record"))
            else:
                handled.append(s.offset)
                outcomes.append(None)
        return outcomes

    g, dead = guard()
    await g.run_batch(records(3), batch, one_by_one(batch))
    assert handled == [0, 2]
    assert dead.letters == [(1, "bad-record")]


async def test_a_record_that_fails_otherwise_is_retried_alone_then_set_aside() -> None:
    calls: list[list[int]] = []

    async def batch(sources: list[SourceMessage]) -> Outcomes:
        calls.append([s.offset for s in sources])
        return [RuntimeError("bug") if s.offset == 2 else None for s in sources]

    g, dead = guard(limit=2)
    with pytest.raises(RuntimeError):  # first solo attempt: raised, the batch comes again
        await g.run_batch(records(3), batch, one_by_one(batch))
    await g.run_batch(records(3), batch, one_by_one(batch))  # redelivered: limit reached
    assert calls == [[0, 1, 2], [2], [0, 1, 2], [2]]
    assert dead.letters == [(2, "handler-failed")]


async def test_a_batch_failing_as_a_whole_isolates_the_poison_record() -> None:
    async def batch(sources: list[SourceMessage]) -> Outcomes:
        if any(s.offset == 1 for s in sources):
            if len(sources) == 1:
                raise Rejected("poison", code="poison")
            raise ValueError("the whole write failed")
        return [None] * len(sources)

    g, dead = guard()
    await g.run_batch(records(3), batch, one_by_one(batch))
    assert dead.letters == [(1, "poison")]


async def test_a_transient_failure_redelivers_the_whole_batch_and_sets_nothing_aside() -> None:
    async def batch(sources: list[SourceMessage]) -> Outcomes:
        raise Transient("database away")

    g, dead = guard()
    with pytest.raises(Transient):
        await g.run_batch(records(2), batch, one_by_one(batch))
    assert dead.letters == []


async def test_one_by_one_raises_the_records_outcome() -> None:
    async def batch(sources: list[SourceMessage]) -> Outcomes:
        return [Rejected("no", code="x")]

    with pytest.raises(Rejected):
        await one_by_one(batch)(records(1)[0])
