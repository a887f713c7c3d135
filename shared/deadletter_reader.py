"""One Kafka consumer per service process for the dead-letter pages, kept between them.

Starting a consumer costs a connection, a SASL handshake and a first metadata round:
measured here about 125 ms of a 160 ms page of an empty topic, every page. A kept
consumer answers a page in the time its offset requests and fetches take (10-15 ms).
Pages use it one at a time (each assigns and seeks it) and leave its partitions
paused, so an idle one fetches nothing. A page that failed drops it; the next page
starts a fresh one. The command line, which reads one page, uses a reader that does
not keep its consumer (``keep=False``).

A fetch brings up to ``FETCH_BYTES`` per partition, all of it decoded. Over 100,000
letters (6 partitions, letters of about 1 kB) a page of 50 took p50/p99 61/245 ms with
256 kB fetches, 8/26 ms with 64 kB and 11/35 ms with 32 kB; a page filtered to one
letter in ten, which scans about 500, 91/285, 27/37 and 106/167 ms (more round trips).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer

from shared.kafka_client import client_options
from shared.settings import Settings

FETCH_BYTES = 64 * 1024  # per partition and fetch: the read-ahead a page may waste
FETCH_WAIT_MS = 20  # the longest the broker holds a fetch that found nothing new


class LetterReader:
    """The consumer dead-letter pages read with, as ``principal``."""

    def __init__(
        self,
        settings: Settings,
        principal: str,
        *,
        keep: bool = True,
        fetch_bytes: int = FETCH_BYTES,
        fetch_wait_ms: int = FETCH_WAIT_MS,
    ) -> None:
        self.settings = settings
        self.principal = principal
        self._keep = keep
        self._fetch_bytes = fetch_bytes
        self._fetch_wait_ms = fetch_wait_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def consumer(self) -> AsyncIterator[AIOKafkaConsumer]:
        """The consumer, for one page at a time (started on first use)."""
        async with self._lock:
            if self._consumer is None:
                consumer = AIOKafkaConsumer(
                    **client_options(self.settings, self.principal),
                    enable_auto_commit=False,
                    group_id=None,
                    max_partition_fetch_bytes=self._fetch_bytes,
                    fetch_max_wait_ms=self._fetch_wait_ms,
                )
                await consumer.start()
                self._consumer = consumer
            try:
                yield self._consumer
            except BaseException:
                await self._drop()
                raise
            if self._keep:
                self._consumer.pause(*self._consumer.assignment())
            else:
                await self._drop()

    async def _drop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def close(self) -> None:
        """Stop the kept consumer (the service's stop hook)."""
        async with self._lock:
            await self._drop()
