"""Which patients the charts still owe records: the read barrier's view per patient.

The barrier (``freshness.py``) makes a read wait until the charts have merged every
``records.stored`` part acknowledged before it began. Waiting for the whole partition
to be merged is enough, but during a hospital's bulk load the partition is minutes
behind for every patient who hashes to it, and a bedside read of a patient who had
nothing in the load would wait (then answer 503) for the others' records.

This tail reads ``records.stored`` from the charts' committed offsets on (assigned
partitions, no group, nothing committed: it changes nobody's position) and keeps, per
partition, the offset of each patient's last part. A read then waits only until the
charts have merged its own patient's last part before the end it saw; a patient with
none past the committed offset does not wait at all. Entries the charts have merged
are dropped, so it holds only the patients of the backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from aiokafka import TopicPartition

FETCH_MS = 200  # how long one fetch waits for new parts at the end of the log
FETCH_MAX = 5_000  # parts decoded per fetch (keys and offsets are all it keeps)


class Part(Protocol):
    @property
    def key(self) -> bytes | None: ...

    @property
    def offset(self) -> int: ...


class Tailing(Protocol):
    """What the tail needs of aiokafka's consumer (assigned, no group)."""

    def assign(self, partitions: list[TopicPartition]) -> None: ...

    def seek(self, partition: TopicPartition, offset: int) -> None: ...

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> Mapping[TopicPartition, Sequence[Part]]: ...

    async def position(self, partition: TopicPartition) -> int: ...


class Backlog:
    """The parts past the charts' committed offsets: each patient's last, per partition."""

    def __init__(self, consumer: Tailing, committed: Mapping[TopicPartition, int]) -> None:
        self._consumer = consumer
        self._last: dict[TopicPartition, dict[str, int]] = {tp: {} for tp in committed}
        self._read_to: dict[TopicPartition, int] = dict(committed)  # the next to read
        self._merged: dict[TopicPartition, int] = dict(committed)  # the charts', as last told
        consumer.assign(list(committed))
        for tp, offset in committed.items():
            consumer.seek(tp, offset)

    def read_to(self, tp: TopicPartition) -> int:
        """Every part below this offset of ``tp`` has been read."""
        return self._read_to[tp]

    def last_of(self, tp: TopicPartition, cid: str) -> int | None:
        """The offset of ``cid``'s last part read that the charts may not have merged."""
        found = self._last[tp].get(cid)
        return found if found is not None and found >= self._merged[tp] else None

    def merged(self, tp: TopicPartition, committed: int) -> None:
        """The charts committed ``committed`` on ``tp``: forget what lies below it."""
        if committed <= self._merged[tp]:
            return
        self._merged[tp] = committed
        last = self._last[tp]
        for cid in [c for c, offset in last.items() if offset < committed]:
            del last[cid]

    async def step(self) -> None:
        """One fetch: the parts' keys and offsets noted, then how far each partition is read."""
        fetched = await self._consumer.getmany(timeout_ms=FETCH_MS, max_records=FETCH_MAX)
        for tp, parts in fetched.items():
            last = self._last[tp]
            for part in parts:
                if part.key is not None:
                    last[part.key.decode()] = part.offset
        for tp in self._read_to:
            self._read_to[tp] = await self._consumer.position(tp)

    async def run(self) -> None:
        """Read until cancelled."""
        while True:
            await self.step()


async def stopped(task: asyncio.Task[Any] | None) -> None:
    """The tail's task cancelled and awaited, whatever state it was in."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
