"""Where the CPU-heavy part of ingest runs: R4B model validation of each bundle.

``InThread`` validates in a worker thread of the service's process: simple, but
the thread shares the interpreter lock with the event loop, so one ingest
process never uses more than one core. ``InProcesses`` sends the raw bodies to
worker processes (started with ``spawn`` when the service starts, models loaded
there once): validation runs beside the event loop's own work (Kafka, JSON,
documents, database), on another core. A worker gets bytes and answers each
body's refusal as ``(reason, detail)``, so nothing but bytes and strings crosses
the process boundary. A worker that dies breaks the pool: it is replaced and the
batch is retried (``Transient``). A worker ends when the service does, however the
service ends (``shared/lifeline.py``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from services.ingest.bundle import LoadedBundle, validate_resources
from services.ingest.errors import BundleRejected, RejectReason
from services.ingest.validation_worker import Refusal, check_bodies, start_worker
from shared.consumer import Outcomes
from shared.errors import Transient
from shared.logging import get_logger

log = get_logger(__name__)


class Validator(Protocol):
    async def validate(self, bodies: list[bytes], loaded: list[LoadedBundle]) -> Outcomes:
        """One outcome per bundle: None (valid) or why not. ``loaded`` are ``bodies`` loaded."""
        ...


def validate_loaded(bundles: Iterable[LoadedBundle]) -> Outcomes:
    """``validate_resources`` over each bundle."""
    outcomes: Outcomes = []
    for loaded in bundles:
        try:
            validate_resources(loaded)
            outcomes.append(None)
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


class InThread:
    async def validate(self, bodies: list[bytes], loaded: list[LoadedBundle]) -> Outcomes:
        return await asyncio.to_thread(validate_loaded, loaded)


def _as_outcome(refusal: Refusal) -> BaseException | None:
    if refusal is None:
        return None
    reason, detail = refusal
    if reason == "error":
        return RuntimeError(f"validation failed: {detail}")
    known: RejectReason = reason  # type: ignore[assignment]
    return BundleRejected(known, detail)


async def _until_idle(pool: ProcessPoolExecutor, wait_s: float = 0.5) -> None:
    """Until the pool counts its worker idle: it does so just after the answer that
    came, and a task sent before would start a worker more (CPython's pool, 3.9+)."""
    idle = getattr(pool, "_idle_worker_semaphore", None)
    for _ in range(int(wait_s / 0.005)):
        if idle is None or int(getattr(idle, "_value", 1)):
            return
        await asyncio.sleep(0.005)


class InProcesses:
    def __init__(self, processes: int, max_bytes: int, model_types: list[str]) -> None:
        self._processes = processes
        self._max_bytes = max_bytes
        self._types = model_types
        self._pool: ProcessPoolExecutor | None = None
        self._warming: asyncio.Future[list[object]] | None = None  # a replay's first worker

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=start_worker,
            initargs=(os.getpid(), self._types),
        )

    async def start(self, *, every: bool = True) -> None:
        """Start the workers now (models loaded), not on the first upload.

        ``every=False`` (a replay): start one in the background and return at once; the
        first upload waits for it, and the pool starts more only when a batch is split
        between more workers than are idle (up to ``processes``). A replay of a few
        uploads used to wait here for every worker, ~4 s of a 6.6 s bench replay."""
        self._pool = self._new_pool()
        loop = asyncio.get_running_loop()
        started = [
            loop.run_in_executor(self._pool, check_bodies, [], self._max_bytes)
            for _ in range(self._processes if every else 1)
        ]
        if not every:
            self._warming = asyncio.gather(*started, return_exceptions=True)
            log.info("validation worker starting", processes=1, most=self._processes)
            return
        await asyncio.gather(*started)
        log.info("validation workers started", processes=self._processes)

    async def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def validate(self, bodies: list[bytes], loaded: list[LoadedBundle]) -> Outcomes:
        if not bodies:  # every upload of the batch was refused before validation
            return []
        if self._pool is None:
            self._pool = self._new_pool()
        if self._warming is not None:  # a replay's first worker: wait, or a second starts
            await self._warming
            self._warming = None
            await _until_idle(self._pool)
        loop = asyncio.get_running_loop()
        share = -(-len(bodies) // self._processes)  # ceiling: one slice per worker
        slices = [bodies[i : i + share] for i in range(0, len(bodies), share)]
        try:
            answers = await asyncio.gather(
                *(loop.run_in_executor(self._pool, check_bodies, s, self._max_bytes)
                  for s in slices)
            )  # fmt: skip
        except BrokenProcessPool as exc:
            log.warning("a validation worker died; starting new ones")
            self._pool = self._new_pool()
            raise Transient("validation worker died") from exc
        return [_as_outcome(refusal) for answer in answers for refusal in answer]
