"""Read your writes: a physician's read sees every record stored before it began.

Ingest publishes an upload's ``records.stored`` parts, waits for the broker to
acknowledge them, and only then announces ``records.received`` (the patient's inbox,
the hospital's receipt). Query merges ``records.stored`` into charts in its projector
and commits a batch's offsets only after merging it. So before a read opens a chart,
it takes the end of the patient's partition of ``records.stored`` (the partition the
CID key hashes to, as the producer chose it) and waits until the query group's
committed offset there has reached it: every part acknowledged before the read began
is then merged. Committed offsets only grow, so the last one seen is kept: when it
already covers the end, the check is one small request (ListOffsets); otherwise an
OffsetFetch to the group's coordinator (found once) follows. When they are behind, the
read waits only for its own patient's parts: the backlog's tail (``backlog.py``, started
on the first read that finds its partition behind) knows the offset of each patient's
last part the charts have not merged. When the charts are further behind than
``query_read_wait_s`` for this patient, the read answers 503 with ``Retry-After`` rather
than fewer records than were announced.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from services.query.backlog import Backlog, stopped
from services.query.errors import ChartsBehind
from shared.errors import Transient
from shared.kafka_client import client_options
from shared.logging import get_logger
from shared.settings import Settings
from shared.topics import INGEST_STORED, named

POLL_S = 0.02  # how often a waiting read asks for the committed offset again
log = get_logger(__name__)


class Freshness(Protocol):
    async def settle(self, cid: str) -> None:
        """Return once ``cid``'s chart holds every record stored before the call."""


class Settled:
    """Charts merged in the same call as the store (unit tests' fakes): nothing to wait."""

    async def settle(self, cid: str) -> None:
        return None


class KafkaFreshness:
    """The barrier over the broker's offsets (connects on first use, as ``service``)."""

    def __init__(self, settings: Settings, service: str, group: str, wait_s: float) -> None:
        self._settings = settings
        self._service = service
        self._group = group
        self._wait_s = wait_s
        self._topic = named(INGEST_STORED, settings.topic_prefix)
        self._admin: AIOKafkaAdminClient | None = None
        self._ends: AIOKafkaConsumer | None = None
        self._partitions: list[int] = []
        self._coordinator: int | None = None
        self._seen: dict[TopicPartition, int] = {}  # committed offsets only grow
        self._connecting: asyncio.Task[tuple[AIOKafkaAdminClient, AIOKafkaConsumer]] | None = None
        self._tailing: asyncio.Task[Backlog] | None = None  # the backlog's start
        self._tail: AIOKafkaConsumer | None = None
        self._tail_run: asyncio.Task[None] | None = None

    async def _connect(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        """The two clients, started once. The start runs in its own task, shielded: a read
        refused while the start is under way cancels its wait, not the start (a cancelled
        start would leave half-open connections and begin again on the next read)."""
        task = self._connecting
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._connecting = asyncio.create_task(self._start())
        return await asyncio.shield(task)

    async def _start(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        options = client_options(self._settings, self._service)
        admin = AIOKafkaAdminClient(**options)
        ends = AIOKafkaConsumer(**options, group_id=None, enable_auto_commit=False)
        try:
            await admin.start()
            await ends.start()
            described = await admin.describe_topics([self._topic])
        except BaseException:
            await _stopped(admin, ends)
            raise
        self._partitions = sorted(p["partition"] for p in described[0]["partitions"])
        self._admin, self._ends = admin, ends
        return admin, ends

    def partition_of(self, cid: str) -> TopicPartition:
        """The partition the producer put ``cid``'s records in (key = CID)."""
        chosen = DefaultPartitioner()(cid.encode(), self._partitions, self._partitions)
        return TopicPartition(self._topic, chosen)

    async def _committed(self, admin: AIOKafkaAdminClient, tp: TopicPartition) -> int:
        return (await self._committed_all(admin, [tp]))[tp]

    async def _committed_all(
        self, admin: AIOKafkaAdminClient, tps: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        if self._coordinator is None:
            self._coordinator = await admin.find_coordinator(self._group)
        try:
            found: dict[TopicPartition, Any] = await admin.list_consumer_group_offsets(
                self._group, group_coordinator_id=self._coordinator, partitions=tps
            )
        except KafkaError:
            self._coordinator = None  # moved: found again next time
            raise
        for tp in tps:
            meta = found.get(tp)
            done = int(meta.offset) if meta is not None and meta.offset >= 0 else 0
            self._seen[tp] = max(done, self._seen.get(tp, 0))
        return {tp: self._seen[tp] for tp in tps}

    async def settle(self, cid: str) -> None:
        try:
            await self._settle(cid)
        except KafkaError as exc:
            log.warning("charts' progress unknown", error=type(exc).__name__)
            raise Transient("the broker did not answer; try again shortly") from exc

    async def _settle(self, cid: str) -> None:
        admin, ends = await self._connect()
        tp = self.partition_of(cid)
        end = int((await ends.end_offsets([tp]))[tp])
        if self._seen.get(tp, -1) >= end:
            return
        done = await self._committed(admin, tp)
        if done >= end:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_s
        owed = await self._owed(admin, tp, cid, end, deadline)
        done = self._seen.get(tp, done)
        while done < owed:
            if loop.time() > deadline:
                log.warning("charts behind", partition=tp.partition, behind=owed - done)
                raise ChartsBehind(
                    f"charts are {owed - done} stored batches behind; try again shortly"
                )
            await asyncio.sleep(POLL_S)
            done = await self._committed(admin, tp)

    async def _owed(
        self, admin: AIOKafkaAdminClient, tp: TopicPartition, cid: str, end: int, deadline: float
    ) -> int:
        """The committed offset that covers ``cid``'s parts below ``end``: just past its
        last one (0 when the charts merged them all), or ``end`` when the tail cannot
        tell (not started, failed, or not read that far by the deadline)."""
        backlog = await self._backlog()
        loop = asyncio.get_running_loop()
        while backlog is not None and backlog.read_to(tp) < end:
            if loop.time() > deadline or self._tail_run is None or self._tail_run.done():
                return end
            await asyncio.sleep(POLL_S)
            if await self._committed(admin, tp) >= end:
                return end  # the charts got there first
        if backlog is None:
            return end
        backlog.merged(tp, self._seen.get(tp, 0))
        last = backlog.last_of(tp, cid)
        return 0 if last is None else min(last + 1, end)

    async def _backlog(self) -> Backlog | None:
        """The tail, started once (shielded, as the clients are); started again after
        it failed; None while it cannot start (the read then waits for the partition)."""
        if self._tail_run is not None and self._tail_run.done():
            log.warning("backlog tail stopped; starting it again")
            await self._stop_tail()
        task = self._tailing
        if task is None:
            task = self._tailing = asyncio.create_task(self._start_tail())
        try:
            return await asyncio.shield(task)
        except Exception as exc:  # any failure: tried again by the next read that needs it
            log.warning("backlog tail did not start", error=type(exc).__name__)
            self._tailing = None
            return None

    async def _start_tail(self) -> Backlog:
        admin, _ = await self._connect()
        tps = [TopicPartition(self._topic, p) for p in self._partitions]
        committed = await self._committed_all(admin, tps)
        options = client_options(self._settings, self._service)
        tail = AIOKafkaConsumer(
            **options, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        try:
            await tail.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await tail.stop()
            raise
        self._tail = tail
        backlog = Backlog(tail, committed)
        self._tail_run = asyncio.create_task(backlog.run())
        return backlog

    async def _stop_tail(self) -> None:
        starting, self._tailing = self._tailing, None
        running, self._tail_run = self._tail_run, None
        tail, self._tail = self._tail, None
        await stopped(starting)
        await stopped(running)
        with contextlib.suppress(Exception):
            if tail is not None:
                await tail.stop()

    async def close(self) -> None:
        await self._stop_tail()
        task, self._connecting = self._connecting, None
        await stopped(task)
        admin, ends, self._admin, self._ends = self._admin, self._ends, None, None
        await _stopped(admin, ends)


async def _stopped(admin: AIOKafkaAdminClient | None, ends: AIOKafkaConsumer | None) -> None:
    """Both clients stopped, whatever state they were left in."""
    with contextlib.suppress(Exception):
        if ends is not None:
            await ends.stop()
    with contextlib.suppress(Exception):
        if admin is not None:
            await admin.close()
