"""The read barrier's Kafka clients start once, however many reads are refused meanwhile.

A refused read cancels its barrier wait (``reads.open_patient``); that must not cancel the
clients' start, or every refused read would open (and leak) new broker connections."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from services.query import freshness
from services.query.freshness import KafkaFreshness
from shared.settings import Settings


class SlowClient:
    """Stands in for aiokafka's admin client and consumer: a start that takes a while."""

    started: ClassVar[list[SlowClient]] = []
    stopped: ClassVar[list[SlowClient]] = []
    fail = False

    def __init__(self, **_: Any) -> None:
        pass

    async def start(self) -> None:
        SlowClient.started.append(self)
        await asyncio.sleep(0.05)
        if SlowClient.fail:
            raise freshness.KafkaError("broker away")

    async def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        return [{"partitions": [{"partition": 1}, {"partition": 0}]}]

    async def end_offsets(self, tps: list[Any]) -> dict[Any, int]:
        return dict.fromkeys(tps, 0)

    async def find_coordinator(self, group: str) -> int:
        return 1

    async def list_consumer_group_offsets(self, group: str, **_: Any) -> dict[Any, Any]:
        return {}  # nothing committed: offset 0, the end

    async def stop(self) -> None:
        SlowClient.stopped.append(self)

    async def close(self) -> None:
        SlowClient.stopped.append(self)


@pytest.fixture
def barrier(monkeypatch: pytest.MonkeyPatch) -> KafkaFreshness:
    SlowClient.started, SlowClient.stopped, SlowClient.fail = [], [], False
    monkeypatch.setattr(freshness, "AIOKafkaAdminClient", SlowClient)
    monkeypatch.setattr(freshness, "AIOKafkaConsumer", SlowClient)
    return KafkaFreshness(Settings(), "query", "query", wait_s=1.0)


async def test_reads_cancelled_while_the_clients_start_do_not_start_them_again(
    barrier: KafkaFreshness,
) -> None:
    for _ in range(5):  # five refused reads, each cancelled before the start is done
        waiting = asyncio.ensure_future(barrier.settle("1234567890123"))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    await barrier.settle("1234567890123")  # an allowed read: offsets 0, nothing to wait
    assert len(SlowClient.started) == 2  # one admin client and one consumer, started once
    await barrier.close()
    assert SlowClient.stopped == SlowClient.started[::-1]


async def test_a_start_that_failed_is_tried_again_and_leaves_nothing_open(
    barrier: KafkaFreshness,
) -> None:
    SlowClient.fail = True
    with pytest.raises(freshness.Transient):
        await barrier.settle("1234567890123")
    assert len(SlowClient.stopped) == 2  # both clients stopped after the failed start
    SlowClient.fail = False
    await barrier.settle("1234567890123")
    assert len(SlowClient.started) == 3  # the failed admin client's start, then both


async def test_close_during_the_start_stops_it(barrier: KafkaFreshness) -> None:
    waiting = asyncio.ensure_future(barrier.settle("1234567890123"))
    await asyncio.sleep(0.01)
    await barrier.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert len(SlowClient.started) == 1  # the admin client was starting
    assert len(SlowClient.stopped) == 2  # and both were stopped
