"""Query's chart projector: ``records.stored`` events merged into physicians' charts.

During an upload flood, merging is most of query's CPU, and it competes for the
same cores as ingest and as physicians' reads. So by default it runs in a child
process of the query service at a lower CPU priority (``nice``,
``HEALTHLINK_QUERY_PROJECTOR_NICE``, 10): when the cores are busy, storing uploads
and answering physicians come first and the charts catch up right after; when
they are not, nothing waits. Nothing is skipped either way: the projector's
consumer is in the query service's group and commits a batch only after merging it.

The service starts the projector when it starts, restarts it if it dies, and stops
it (SIGTERM: it finishes its batch and leaves the group, within ``STOP_S``) when it
stops. Operators run one command, ``healthlink serve query``. The projector reports
its consumer lag to the service's ``/metrics``, and ``/readyz`` waits for it. A
projector whose service is gone stops too, however the service ended
(``shared/lifeline.py``). ``HEALTHLINK_QUERY_PROJECTOR=inline`` merges in the
service's own process instead (and ``healthlink replay query`` always does).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import signal
import time
from functools import partial
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

from services.query import subscribers
from services.query.chartparts import ChartCache
from services.query.chartstore import ChartStore
from services.query.repository import Charts
from services.query.settings import QuerySettings
from shared import topics
from shared.lifeline import bind_to_parent, exit_within
from shared.logging import configure_logging, get_logger
from shared.metrics import Lags, consumer_lags
from shared.runtime import Runtime, every, make_runtime

SERVICE = "query"
SWEEP_EVERY_S = 10.0  # superseded chart parts are deleted this often
REPORT_EVERY_S = 1.0  # the projector sends its consumer lag to the service this often
RESTART_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # after 1, 2, ... failures in a row
STEADY_S = 60.0  # a projector that ran this long before it died starts the count again
STOP_S = 4.0  # after SIGTERM the projector ends by itself within this (then os._exit)
KILL_AFTER_S = STOP_S + 1.0  # the service SIGKILLs a projector still running by then
log = get_logger(__name__)


async def sweep_all(charts: Charts) -> None:
    """At shutdown: delete every superseded chart part (no reader of ours is left)."""
    await charts.sweep(grace_s=0.0)


def project_charts(runtime: Runtime, charts: Charts, *, inline: bool = True) -> None:
    """Stored records merged into ``charts`` by ``runtime``, which sweeps them too; with
    ``inline=False`` the handler is only listed (for replay): the projector consumes."""
    runtime.subscribe_batch(
        topics.INGEST_STORED,
        partial(subscribers.on_records_stored, charts),
        max_records=runtime.settings.event_batch,
    )
    runtime.on_stop.append(partial(sweep_all, charts))
    if inline:
        runtime.background(every(SWEEP_EVERY_S, charts.sweep, "chart sweep"))
    else:
        runtime.delegate(topics.INGEST_STORED)


class Projector:
    """The service's side: starts, watches, restarts and stops the child process."""

    def __init__(self, settings: QuerySettings) -> None:
        self._settings = settings
        self._context = multiprocessing.get_context("spawn")
        self._process: SpawnProcess | None = None
        self._ready: Event | None = None
        self._reports: Queue[Lags] | None = None
        self._last: Lags = {}

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def ready(self) -> bool:
        """Started, consuming, and still alive."""
        process, ready = self._process, self._ready
        return process is not None and ready is not None and ready.is_set() and process.is_alive()

    def lags(self) -> Lags:
        """The latest consumer lag the projector reported (nothing while it is down)."""
        self._take_reports()
        return self._last if self.ready() else {}

    def _take_reports(self) -> None:
        if self._reports is not None:
            with contextlib.suppress(queue.Empty, OSError, EOFError, ValueError):
                while True:
                    self._last = self._reports.get_nowait()

    async def _watch(self, process: SpawnProcess) -> None:
        """Until ``process`` ends, take its lag reports as they come: unread, they would
        fill the pipe, and the projector could not exit (its queue's thread waits)."""
        ended = asyncio.ensure_future(exited(process))
        try:
            while not ended.done():
                await asyncio.wait({ended}, timeout=REPORT_EVERY_S)
                self._take_reports()
        finally:
            ended.cancel()

    async def supervise(self) -> None:
        """Run the projector until cancelled; restart it, with a growing delay, if it dies."""
        failures = 0
        try:
            while True:
                started = time.monotonic()
                process = self._start()
                await self._watch(process)
                if time.monotonic() - started > STEADY_S:
                    failures = 0
                delay = RESTART_DELAYS_S[min(failures, len(RESTART_DELAYS_S) - 1)]
                failures += 1
                log.error("chart projector exited", exitcode=process.exitcode, restart_in_s=delay)
                await asyncio.sleep(delay)
        finally:
            await asyncio.shield(asyncio.to_thread(self._stop))

    def _start(self) -> SpawnProcess:
        self._ready = self._context.Event()
        self._reports = self._context.Queue()
        self._last = {}
        self._process = self._context.Process(
            target=main,
            args=(self._settings, os.getpid(), self._ready, self._reports),
            name="healthlink-query-projector",
            daemon=True,
        )
        self._process.start()
        log.info("chart projector started", pid=self._process.pid)
        return self._process

    def _stop(self) -> None:
        process = self._process
        if process is None or not process.is_alive():
            return
        process.terminate()  # SIGTERM: the projector ends its batch and leaves the group
        process.join(KILL_AFTER_S)
        if process.is_alive():
            log.error("chart projector did not stop; killing it", pid=process.pid)
            process.kill()
            process.join(1.0)


async def exited(process: SpawnProcess) -> None:
    """Wait, without polling, until ``process`` has ended."""
    loop = asyncio.get_running_loop()
    ended = loop.create_future()

    def end() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(process.sentinel, end)
    try:
        await ended
    finally:
        loop.remove_reader(process.sentinel)


def main(settings: QuerySettings, parent: int, ready: Event, reports: Queue[Lags]) -> None:
    """The child process: lower its priority, then merge until told to stop (SIGTERM,
    from the service or, if the service dies, from the kernel)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C: the parent stops us
    bind_to_parent(parent, signum=signal.SIGTERM, grace_s=STOP_S)
    os.nice(settings.query_projector_nice)
    asyncio.run(project(settings, parent, ready, reports))


async def project(settings: QuerySettings, parent: int, ready: Event, reports: Queue[Lags]) -> None:
    configure_logging(SERVICE, settings.log_level)
    reports.cancel_join_thread()  # at exit, a report not yet sent is dropped, not waited on
    runtime = make_runtime(settings, SERVICE)
    project_charts(runtime, ChartStore(runtime.db, ChartCache(settings.chart_cache_bytes)))

    async def report() -> None:
        reports.put(await consumer_lags(runtime.consumers()))

    runtime.background(every(REPORT_EVERY_S, report, "projector lag report"))
    runtime.register_consumer()
    stop = asyncio.Event()

    def stopping() -> None:
        if not stop.is_set():
            stop.set()
            exit_within(STOP_S, "chart projector stopping")

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping)
    async with runtime.running():
        ready.set()
        log.info("chart projector consuming", nice=os.nice(0))
        await stop.wait()
    log.info("chart projector stopped", parent_alive=os.getppid() == parent)
