"""The read barrier waits for its own patient's parts, not for the whole partition.

During a bulk load of one patient's records, a read of another patient on the same
partition of ``records.stored`` answers at once; the loaded patient's read waits until
the charts have merged its last part (services/query/backlog.py, freshness.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from aiokafka import TopicPartition

from services.query import freshness
from services.query.backlog import Backlog
from services.query.errors import ChartsBehind
from services.query.freshness import KafkaFreshness
from shared.settings import Settings

LOADED, OTHER, NEW = "1100000000011", "1100000000029", "1100000000037"
TOPIC = "healthlink.ingest.stored"
TP = TopicPartition(TOPIC, 0)


@dataclass
class Part:
    key: bytes | None
    offset: int


class Log:
    """One partition of ``records.stored`` and the charts' committed offset on it."""

    parts: ClassVar[list[Part]] = []
    committed: ClassVar[int] = 0
    started: ClassVar[int] = 0

    def __init__(self, **_: Any) -> None:
        self._next = 0

    async def start(self) -> None:
        Log.started += 1

    async def stop(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        return [{"partitions": [{"partition": 0}]}]

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, len(Log.parts))

    async def find_coordinator(self, group: str) -> int:
        return 1

    async def list_consumer_group_offsets(self, group: str, **_: Any) -> dict[Any, Any]:
        @dataclass
        class Meta:
            offset: int

        return {TP: Meta(Log.committed)}

    def assign(self, partitions: list[TopicPartition]) -> None:
        assert partitions == [TP]

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._next = offset

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Part]]:
        found = Log.parts[self._next :]
        if not found:
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        self._next = len(Log.parts)
        return {TP: found}

    async def position(self, partition: TopicPartition) -> int:
        return self._next


def load(cid: str, n: int) -> None:
    Log.parts += [Part(cid.encode(), len(Log.parts) + i) for i in range(n)]


@pytest.fixture
def barrier(monkeypatch: pytest.MonkeyPatch) -> KafkaFreshness:
    Log.parts, Log.committed, Log.started = [], 0, 0
    monkeypatch.setattr(freshness, "AIOKafkaAdminClient", Log)
    monkeypatch.setattr(freshness, "AIOKafkaConsumer", Log)
    return KafkaFreshness(Settings(), "query", "query", wait_s=0.3)


async def test_a_read_waits_only_for_its_own_patient_s_parts(barrier: KafkaFreshness) -> None:
    load(OTHER, 2)  # offsets 0-1: merged
    load(LOADED, 500)  # 2-501: a bulk load the charts have not merged yet
    Log.committed = 2
    await barrier.settle(OTHER)  # nothing of OTHER past the committed offset: no wait
    await barrier.settle(NEW)  # a patient with no parts at all
    with pytest.raises(ChartsBehind, match="500 stored batches behind"):
        await barrier.settle(LOADED)
    Log.committed = 400
    with pytest.raises(ChartsBehind, match="102 stored batches behind"):
        await barrier.settle(LOADED)
    Log.committed = 502
    await barrier.settle(LOADED)
    assert Log.started == 3  # the admin client, the end's consumer and the tail, once
    await barrier.close()


async def test_a_part_after_the_load_makes_its_patient_wait_for_it(
    barrier: KafkaFreshness,
) -> None:
    load(LOADED, 300)
    load(OTHER, 1)  # offset 300: behind the load
    Log.committed = 0
    with pytest.raises(ChartsBehind, match="301 stored batches behind"):
        await barrier.settle(OTHER)
    Log.committed = 301
    await barrier.settle(OTHER)
    await barrier.close()


def test_the_backlog_forgets_what_the_charts_merged() -> None:
    Log.parts = []
    log = Log()
    load(OTHER, 1)
    load(LOADED, 3)
    backlog = Backlog(log, {TP: 0})
    asyncio.run(backlog.step())
    assert backlog.read_to(TP) == 4
    assert (backlog.last_of(TP, OTHER), backlog.last_of(TP, LOADED)) == (0, 3)
    backlog.merged(TP, 2)
    assert (backlog.last_of(TP, OTHER), backlog.last_of(TP, LOADED)) == (None, 3)
    backlog.merged(TP, 1)  # committed offsets only grow: an older one changes nothing
    assert backlog.last_of(TP, LOADED) == 3
