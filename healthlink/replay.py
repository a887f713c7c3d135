"""Replay: rebuild a service's projections from the Kafka topics it consumes.

    healthlink replay <service> [--from-beginning | --from-time T | --from-offset N]
                                [--topic T ...] [--fresh-db] [--dry-run] [--reset-only]

1. The service must be stopped (its consumer group has no member): checked, refused otherwise.
2. Plan: for each partition of the service's topics, the start (beginning, time, offset)
   and the end (the high watermark now).
3. ``--dry-run`` prints the plan. ``--reset-only`` commits the start offsets to the
   group with Kafka's API and stops: the service replays itself when it starts.
4. Otherwise the service's own handlers run here, in-process (consecutive records of a
   batch-consumed topic together; the runtime marked ``replaying``), over the records
   merged across partitions and topics in timestamp order (the order they were first
   handled in), with a progress bar and ETA. ``--fresh-db`` writes into ``<db>_rebuild``
   and swaps the rebuilt collections in at the end (the replaced ones are kept as
   ``<name>_before_replay``). Messages set aside again are counted, not re-published:
   their originals are already on the dead-letter topic.
5. The group's offsets are set to the ends, so the restarted service goes on from there.

Every handler is idempotent, so a replay over live data changes only what was missing.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from healthlink import offsets
from healthlink.apps import build_app
from healthlink.offsets import PartitionPlan, StartAt
from healthlink.rebuild import RebuildSettings, drop_rebuild, swap_in
from shared.consumer import Guard
from shared.deadletter import DeadLetters, SourceMessage
from shared.kafka_client import client_options
from shared.runtime import Runtime
from shared.settings import Settings

MAX_ATTEMPTS = 60  # a message still failing transiently after this stops the replay
STALL_S = 60.0


class ReplayStalled(RuntimeError):
    """A partition stopped delivering, or a message kept failing transiently."""


class CountingDeadLetters(DeadLetters):
    """Counts what would be set aside again instead of publishing it a second time."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.publisher, runtime.service, runtime.settings.topic_prefix)
        self.reasons: Counter[str] = Counter()

    async def set_aside(self, source: SourceMessage, reason: str, detail: str) -> None:
        self.reasons[reason] += 1


@dataclass
class ReplayReport:
    service: str
    group: str
    partitions: list[PartitionPlan]
    messages: int = 0
    set_aside: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # the whole replay, worker processes' start included
    handling_s: float = 0.0  # the records through the handlers only
    mode: str = "replay"

    @property
    def planned(self) -> int:
        return sum(p.count for p in self.partitions)


def runtime_of(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.runtime
    runtime.replaying = True  # its start hooks may start lazily (ingest's workers)
    return runtime


async def merged(
    settings: Settings, parts: list[PartitionPlan], principal: str
) -> AsyncIterator[SourceMessage]:
    """The planned records of every partition, merged in timestamp order."""
    bounds = {p.tp: (p.start, p.end) for p in parts if p.count}
    if not bounds:
        return
    consumer = AIOKafkaConsumer(
        **client_options(settings, principal), enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        consumer.assign(list(bounds))
        for tp, (start, _) in bounds.items():
            consumer.seek(tp, start)
        buffers: dict[TopicPartition, deque[Any]] = {tp: deque() for tp in bounds}
        done: set[TopicPartition] = set()
        last_progress = time.monotonic()
        while True:
            for tp in bounds:
                if (
                    tp not in done
                    and not buffers[tp]
                    and await consumer.position(tp) >= bounds[tp][1]
                ):
                    done.add(tp)  # fetched up to its end: no need to wait for more
            need = [tp for tp in bounds if tp not in done and not buffers[tp]]
            if need:
                batch = await consumer.getmany(*need, timeout_ms=1000)
                for tp, records in batch.items():
                    buffers[tp].extend(r for r in records if r.offset < bounds[tp][1])
                for tp in need:
                    if not buffers[tp] and await consumer.position(tp) >= bounds[tp][1]:
                        done.add(tp)
                if batch:
                    last_progress = time.monotonic()
                elif time.monotonic() - last_progress > STALL_S:
                    raise ReplayStalled(f"no records from {need} for {STALL_S:.0f}s")
                continue
            heads = [tp for tp in bounds if buffers[tp]]
            if not heads:
                return
            tp = min(heads, key=lambda t: (buffers[t][0].timestamp, t.topic, t.partition))
            r = buffers[tp].popleft()
            yield SourceMessage(
                topic=r.topic,
                partition=r.partition,
                offset=r.offset,
                key=r.key,
                value=r.value or b"",
                headers={k: v.decode(errors="replace") for k, v in r.headers},
            )
    finally:
        await consumer.stop()


async def handle(guard: Guard, runtime: Runtime, sources: list[SourceMessage]) -> None:
    """Run records of one topic through the service's own handler (via its guard) until
    they end: as one batch when the service consumes that topic in batches."""
    first = sources[0]
    batch = runtime.batches.get(first.topic)
    for _ in range(MAX_ATTEMPTS):
        try:
            if batch is not None:
                await guard.run_batch(sources, batch[0], runtime.routes[first.topic])
            else:
                await guard.run(first, runtime.routes[first.topic])
            return
        except Exception:  # the guard logged it and backed off; same records again
            continue
    raise ReplayStalled(f"{first.topic}@{first.partition}:{first.offset} keeps failing")


async def in_batches(
    runtime: Runtime, sources: AsyncIterator[SourceMessage]
) -> AsyncIterator[list[SourceMessage]]:
    """Consecutive records of a batch-consumed topic together (order kept), others alone."""
    pending: list[SourceMessage] = []
    async for source in sources:
        if pending and (
            source.topic != pending[0].topic or len(pending) >= runtime.batches[pending[0].topic][1]
        ):
            yield pending
            pending = []
        if source.topic in runtime.batches:
            pending.append(source)
        else:
            yield [source]
    if pending:
        yield pending


async def run_handlers(
    runtime: Runtime, settings: Settings, report: ReplayReport, show: bool
) -> None:
    dead = CountingDeadLetters(runtime)
    guard = Guard(dead, settings.transient_retry_limit, backoff_s=0.5)
    columns = (
        TextColumn("[bold]replay {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    for hook in runtime.on_start:
        await hook()
    await runtime.broker.connect()
    began = time.perf_counter()
    try:
        with Progress(*columns, console=Console(stderr=True), disable=not show) as bar:
            task = bar.add_task(runtime.service, total=report.planned)
            async for sources in in_batches(
                runtime, merged(settings, report.partitions, runtime.service)
            ):
                await handle(guard, runtime, sources)
                report.messages += len(sources)
                bar.advance(task, len(sources))
        report.handling_s = round(time.perf_counter() - began, 3)
    finally:
        await runtime.broker.stop()
        for hook in runtime.on_stop:
            await hook()
        await runtime.client.close()
    report.set_aside = dict(dead.reasons)


async def replay(
    settings: Settings,
    service: str,
    *,
    start: StartAt = StartAt(),  # noqa: B008 - frozen dataclass
    only_topics: list[str] | None = None,
    fresh_db: bool = False,
    dry_run: bool = False,
    reset_only: bool = False,
    show_progress: bool = False,
) -> ReplayReport:
    """Rebuild ``service``'s projections from its topics (see the module docstring)."""
    began = time.perf_counter()
    target = RebuildSettings.of(settings, service) if fresh_db else settings
    runtime = runtime_of(build_app(service, target))
    names = list(runtime.routes)
    if only_topics:
        wanted = {
            settings.topic_prefix + t.removeprefix(settings.topic_prefix) for t in only_topics
        }
        unknown = wanted - set(names)
        if unknown:
            raise ValueError(f"{service} does not consume {sorted(unknown)}; it reads {names}")
        names = [n for n in names if n in wanted]
    report = ReplayReport(service, runtime.group_id, [])
    # A replay is the stopped service rebuilding itself: it reads as the service's own
    # principal, in the service's own group (shared/acl.py).
    await offsets.ensure_idle(settings, runtime.group_id, service)
    report.partitions = await offsets.plan(settings, runtime.group_id, names, start, service)
    if dry_run:
        report.mode = "dry-run"
        await runtime.client.close()
        return report
    if reset_only:
        report.mode = "reset-only"
        starts = {p.tp: p.start for p in report.partitions}
        await offsets.commit(settings, runtime.group_id, starts, service)
        await runtime.client.close()
        return report
    if fresh_db:
        await drop_rebuild(runtime.client, settings, service)
    await run_handlers(runtime, settings, report, show_progress)
    if fresh_db:
        await swap_in(settings, service)
    await offsets.commit(
        settings, runtime.group_id, {p.tp: p.end for p in report.partitions}, service
    )
    report.seconds = round(time.perf_counter() - began, 3)
    return report


def run(settings: Settings, service: str, **options: Any) -> ReplayReport:
    """Synchronous entry for the CLI."""
    return asyncio.run(replay(settings, service, **options))


def parse_time(text: str) -> int:
    """ISO-8601 (``2026-11-01T09:00:00+07:00``; UTC if no offset) -> ms since the epoch."""
    from datetime import UTC, datetime

    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def print_report(report: ReplayReport, console: Console) -> None:
    from rich.table import Table

    table = Table("topic", "partition", "committed", "start", "end", "messages")
    for p in report.partitions:
        committed = "-" if p.committed is None else str(p.committed)
        table.add_row(p.topic, str(p.partition), committed, str(p.start), str(p.end), str(p.count))
    console.print(table)
    console.print(
        f"{report.mode} of {report.service} (group {report.group}): "
        f"{report.planned} planned, {report.messages} handled, set aside again: "
        f"{report.set_aside or 'none'}, {report.seconds}s ({report.handling_s}s in the handlers)"
    )
