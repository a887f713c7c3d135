"""Dead letters a page at a time: read only what a page returns, plus bookkeeping.

A page starts at a cursor, an opaque token holding the next offset of each partition of
``healthlink.deadletter``, and merges the partitions oldest first (record time, then
partition and offset), so following ``next`` walks every letter once, in the same order.
A page reads the letters it returns, those its filters skipped, and at most one fetch
ahead per partition (re-read by the next page); it stops after ``limit`` letters, at the
end of the topic (its end offsets when the page began), or after a scan budget, so a
filter that matches rarely cannot make one request read the whole topic.

Which letters were retried comes from ``healthlink.deadletter.retries``: a ``RetryLog``
kept by each service process reads only what was added since its last look.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared import topics
from shared.deadletter import RETRY_OF, DeadLetter
from shared.deadletter_reader import LetterReader
from shared.errors import InvalidInput
from shared.kafka_client import client_options
from shared.settings import Settings

SCAN_RECORDS = 2000  # letters a page may read beyond the ones it returns (filters)
SCAN_BYTES = 16 * 1024 * 1024  # and bytes (letters can be whole bundles)
WAIT_S = 5.0  # the longest a page waits for a partition that has records to answer
PARTITIONS_TTL_S = 30.0  # how long a topic's partition list is taken as known

Record: TypeAlias = ConsumerRecord[bytes, bytes]


def _headers(record: Record) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in record.headers}


def letter_of(record: Record) -> DeadLetter:
    return DeadLetter.from_record(record.key, record.value or b"", _headers(record))


@dataclass
class Page:
    """One page: the letters, where it stopped, and what it cost."""

    letters: list[DeadLetter]
    positions: dict[int, int]  # next offset per partition
    more: bool  # letters remain after ``positions`` (as of the page's start)
    records_on_topic: int  # end − start offsets over the partitions (approximate)
    scanned: int = 0


@dataclass
class _Partition:
    tp: TopicPartition
    end: int
    next: int
    buffer: deque[Record] = field(default_factory=deque)

    @property
    def done(self) -> bool:
        return not self.buffer and self.next >= self.end


async def read_page(
    reader: LetterReader,
    positions: dict[int, int],
    limit: int,
    keep: Callable[[DeadLetter], bool],
    retries: RetryLog | None = None,
) -> Page:
    """Letters after ``positions`` that ``keep`` accepts, at most ``limit``, oldest first.

    With ``retries``, its log catches up first, over the same connection (``keep`` may
    read ``retries.retried``)."""
    settings, principal = reader.settings, reader.principal
    name = topics.named(topics.DEAD_LETTERS, settings.topic_prefix)
    tps = await cached_partitions(settings, name, principal)
    unknown = set(positions) - {tp.partition for tp in tps}
    if unknown:
        raise InvalidInput(f"cursor: the dead-letter topic has no partition {min(unknown)}")
    retry_name = topics.named(topics.DEAD_LETTER_RETRIES, settings.topic_prefix)
    retry_tps = await cached_partitions(settings, retry_name, principal) if retries else []
    if not tps and not retry_tps:
        return Page([], {}, False, 0)
    async with reader.consumer() as consumer:
        starts, ends = await _bounds(consumer, tps + retry_tps)
        if retries is not None:
            async with retries.lock:
                froms = {tp: max(retries.next_of(tp.partition), starts[tp]) for tp in retry_tps}
                retries.take(await _read_to_end(consumer, froms, ends))
        if not tps:
            return Page([], {}, False, 0)
        return await _page(consumer, tps, starts, ends, positions, limit, keep)


async def _bounds(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """First and next offsets of each partition, asked together."""
    starts, ends = await asyncio.gather(consumer.beginning_offsets(tps), consumer.end_offsets(tps))
    return starts, ends


_PARTITIONS: dict[tuple[str, str], tuple[float, list[TopicPartition]]] = {}


async def cached_partitions(settings: Settings, name: str, principal: str) -> list[TopicPartition]:
    """A topic's partitions, asked again after ``PARTITIONS_TTL_S`` (they seldom change)."""
    key = (settings.kafka_bootstrap, name)
    now = time.monotonic()
    hit = _PARTITIONS.get(key)
    if hit is not None and now - hit[0] < PARTITIONS_TTL_S:
        return hit[1]
    found = await partitions_of(settings, [name], principal)
    if found:
        _PARTITIONS[key] = (now, found)
    return found


async def partitions_of(
    settings: Settings, names: list[str], principal: str
) -> list[TopicPartition]:
    """The partitions of the existing topics among ``names`` (full names, as on the broker)."""
    admin = AIOKafkaAdminClient(**client_options(settings, principal))
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if t["error_code"] == 0
        for p in sorted(t["partitions"], key=lambda p: int(p["partition"]))
    ]


async def _page(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    positions: dict[int, int],
    limit: int,
    keep: Callable[[DeadLetter], bool],
) -> Page:
    parts = [
        _Partition(tp, ends[tp], min(max(positions.get(tp.partition, 0), starts[tp]), ends[tp]))
        for tp in tps
    ]
    consumer.assign(tps)
    for part in parts:
        consumer.seek(part.tp, part.next)
    taken: list[DeadLetter] = []
    seen: set[str] = set()
    scanned = scanned_bytes = 0
    while len(taken) < limit and scanned < SCAN_RECORDS and scanned_bytes < SCAN_BYTES:
        want = limit - len(taken)
        await _fill(consumer, parts, want)
        heads = [p for p in parts if p.buffer]
        if not heads:
            break
        part = min(heads, key=lambda p: (p.buffer[0].timestamp, p.tp.partition, p.buffer[0].offset))
        record = part.buffer.popleft()
        part.next = record.offset + 1
        scanned += 1
        scanned_bytes += len(record.value or b"")
        letter = letter_of(record)
        if letter.id not in seen and keep(letter):
            seen.add(letter.id)  # the same record set aside again after a redelivery
            taken.append(letter)
    return Page(
        taken,
        {p.tp.partition: p.next for p in parts},
        any(not p.done for p in parts),
        sum(ends[tp] - starts[tp] for tp in tps),
        scanned,
    )


async def _fill(consumer: AIOKafkaConsumer, parts: list[_Partition], want: int) -> None:
    """Fetch until each partition with an empty buffer holds a record or has reached its
    end, taking at most ``want`` records of each.

    aiokafka decodes a fetched partition's records as they are taken, so the rest of a
    fetch costs its bytes only. But while records it fetched wait to be taken, it sends
    that broker no fetch for up to 100 ms (its prefetch back-off): a page of large
    letters, refilling one partition after another, waited 100 ms each time. So before
    asking the broker, the other partitions' waiting records are dropped (a seek to where
    the page took up to); they are fetched again if the page gets to them."""
    waiting = {p.tp: p for p in parts if not p.buffer and p.next < p.end}
    for tp in list(waiting):  # what the last fetch brought, if any: no round trip
        _take(waiting, await consumer.getmany(tp, timeout_ms=0, max_records=want))
    if waiting:
        for part in parts:
            if part.tp not in waiting:
                consumer.seek(part.tp, await consumer.position(part.tp))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while waiting and loop.time() < deadline:
        _take(waiting, await consumer.getmany(*waiting, timeout_ms=500, max_records=want))
        for tp in list(waiting):  # the others' records came in the same fetch, most likely
            _take(waiting, await consumer.getmany(tp, timeout_ms=0, max_records=want))
        for tp, part in list(waiting.items()):
            if await consumer.position(tp) >= part.end:
                part.next = part.end  # nothing left below the end (a gap in the offsets)
                del waiting[tp]
    for part in waiting.values():  # did not answer in time: this page ends before it
        part.end = part.next


def _take(waiting: dict[TopicPartition, _Partition], batch: dict[Any, list[Record]]) -> None:
    """Buffer what came (below each partition's end); a partition that got some is done."""
    for tp, records in batch.items():
        part = waiting.get(tp)
        if part is not None:
            part.buffer.extend(r for r in records if r.offset < part.end)
            if part.buffer:
                del waiting[tp]


class RetryLog:
    """Which letters were retried and when, read incrementally from the retry topic."""

    def __init__(self) -> None:
        self.retried: dict[str, str] = {}
        self._next: dict[int, int] = {}
        self.lock = asyncio.Lock()

    def next_of(self, partition: int) -> int:
        return self._next.get(partition, 0)

    def take(self, records: list[Record]) -> None:
        for record in records:
            headers = _headers(record)
            if headers.get(RETRY_OF):
                self.retried[headers[RETRY_OF]] = headers.get("hl-dlq-time", "")
            self._next[record.partition] = max(self.next_of(record.partition), record.offset + 1)

    async def refresh(self, settings: Settings, principal: str) -> dict[str, str]:
        """Read what was added since the last call; returns letter id -> retry time."""
        async with self.lock:
            topic = topics.DEAD_LETTER_RETRIES
            self.take(await read_after(settings, topic, principal, self._next))
            return dict(self.retried)


async def read_after(
    settings: Settings, topic: str, principal: str, after: dict[int, int]
) -> list[Any]:
    """Every record of ``topic`` from ``after`` (per-partition next offsets) to its end."""
    name = topics.named(topic, settings.topic_prefix)
    tps = await cached_partitions(settings, name, principal)
    if not tps:
        return []
    async with LetterReader(settings, principal, keep=False).consumer() as consumer:
        starts, ends = await _bounds(consumer, tps)
        froms = {tp: max(after.get(tp.partition, 0), starts[tp]) for tp in tps}
        return await _read_to_end(consumer, froms, ends)


async def _read_to_end(
    consumer: AIOKafkaConsumer, froms: dict[TopicPartition, int], ends: dict[TopicPartition, int]
) -> list[Record]:
    """The records from ``froms`` to ``ends`` (per partition), oldest first."""
    todo = [tp for tp, start in froms.items() if start < ends[tp]]
    if not todo:
        return []
    consumer.assign(todo)
    for tp in todo:
        consumer.seek(tp, froms[tp])
    found: list[Record] = []
    while [tp for tp in todo if await consumer.position(tp) < ends[tp]]:
        batch = await consumer.getmany(*todo, timeout_ms=int(WAIT_S * 1000))
        if not batch:
            break
        for tp, records in batch.items():
            found.extend(r for r in records if r.offset < ends[tp])
    found.sort(key=lambda r: (r.timestamp, r.partition, r.offset))
    return found
