"""One Kafka consumer per service process for the dead-letter pages, kept between them.

Starting a consumer costs a connection, a SASL handshake and a first metadata round:
measured here about 125 ms of a 160 ms page of an empty topic, every page. A kept
consumer answers a page in the time its offset requests and fetches take (10-15 ms).
Pages use it one at a time (each assigns and seeks it) and leave its partitions
paused, so an idle one fetches nothing. A page that failed drops it; the next page
starts a fresh one. The command line, which reads one page, uses a reader that does
not keep its consumer (``keep=False``).

A fetch brings up to ``FETCH_BYTES`` per partition; a page takes from it only the
records it needs (``deadletter_pages._fill``: aiokafka decodes records as they are taken,
so the rest costs its bytes, not its decoding). Before that, a page decoded every record
a fetch brought: 64 kB fetches kept the waste small with 100,000 small letters (256 kB:
p50/p99 61/245 ms, 64 kB: 8/26 ms), but a page of upload-sized letters (about 23 kB,
two per fetch) then refilled partition after partition and aiokafka held each refill up
to 100 ms: bench.ops' listing took 127-142 ms. Measured A/B in one process, variants
interleaved (load 6-11), p50/p99 ms per page of 50:

    letters                          64 kB, all decoded   256 kB, taken as needed
    100,000 of 0.6 kB                13 / 53              17 / 96    (CPU p50 6.7 / 7.8)
    the same, one in ten (filtered)  38 / 184             27 / 137   (CPU p50 17.6 / 15.6)
    200 of 23 kB                     553 / 697            12 / 107   (CPU p50 18.1 / 8.5)
    20 of 23 kB, through ingest      19 / 41              18 / 43    (CPU p50 12.6 / 12.9)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer

from shared.kafka_client import client_options
from shared.settings import Settings

FETCH_BYTES = 256 * 1024  # per partition and fetch: read ahead, decoded only when taken
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
