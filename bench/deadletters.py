"""Dead-letter listing over a large topic: 100,000 letters, pages of 50 (issue 14, item 6).

The letters (about 1 kB each, one in ten ``bad-signature``, the rest ``no-consent``) go
straight onto the run's dead-letter topic; then 100 pages are read through one kept
reader as a service reads them (``shared/deadletter_reader.py``), first pages and
``next`` pages alternating, unfiltered and filtered to one letter in ten; then the same
through ingest's ``GET /admin/deadletters`` as an operator calls it (``deadletters_http_*``:
HTTP, the operator's token check, the page's JSON).
``HEALTHLINK_BENCH_DEADLETTERS`` changes the count.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from bench.env import BenchEnv
from bench.stats import summarise
from shared import topics
from shared.deadletter import DeadLetter, SourceMessage, dead_letter_headers
from shared.deadletter_pages import RetryLog, read_page
from shared.deadletter_reader import LetterReader
from shared.kafka_client import ADMIN, client_options
from shared.settings import Settings
from tests.support.journey import OPERATOR

LETTERS = int(os.environ.get("HEALTHLINK_BENCH_DEADLETTERS", "100000"))
PAGES = 100
LIMIT = 50
BODY = b'{"resourceType": "Bundle", "type": "transaction", "entry": []}' * 10


async def set_aside(settings: Settings, count: int) -> float:
    """``count`` letters as ingest sets them aside; returns the seconds it took."""
    producer = AIOKafkaProducer(
        **client_options(settings, ADMIN), acks="all", enable_idempotence=True
    )
    await producer.start()
    start = time.perf_counter()
    try:
        pending = []
        source_topic = topics.named(topics.INGEST_UPLOADS, settings.topic_prefix)
        for n in range(count):
            source = SourceMessage(source_topic, 0, n, f"k{n}".encode(), BODY, {})
            headers = dead_letter_headers(
                source,
                service="ingest",
                reason="bad-signature" if n % 10 == 0 else "no-consent",
                detail="bench",
                topic_prefix=settings.topic_prefix,
            )
            pending.append(
                await producer.send(
                    topics.named(topics.DEAD_LETTERS, settings.topic_prefix),
                    BODY,
                    key=source.key,
                    headers=[(k, v.encode()) for k, v in headers.items()],
                )
            )
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - start


async def pages(reader: LetterReader, keep: Callable[[DeadLetter], bool]) -> list[float]:
    retries = RetryLog()
    await read_page(reader, {}, LIMIT, keep, retries)  # warm-up
    samples: list[float] = []
    positions: dict[int, int] = {}
    for n in range(PAGES):
        start = time.perf_counter()
        page = await read_page(reader, positions if n % 2 else {}, LIMIT, keep, retries)
        samples.append((time.perf_counter() - start) * 1000)
        positions = page.positions
    return samples


async def listings(env: BenchEnv, query: str) -> list[float]:
    """``PAGES`` pages of ``GET /admin/deadletters?{query}`` on ingest, as an operator
    lists them: first pages and the ``next`` of each alternating (one unmeasured first)."""
    http, base = env.actors.http, env.actors.url("ingest", "")
    first = f"/admin/deadletters?{query}&limit={LIMIT}"
    (await http.get(base + first, headers=OPERATOR)).raise_for_status()  # starts the reader
    samples: list[float] = []
    link: str | None = None
    for n in range(PAGES):
        start = time.perf_counter()
        response = await http.get(base + (link if n % 2 and link else first), headers=OPERATOR)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text
        link = response.json()["next"]
    return samples


async def run(env: BenchEnv) -> dict[str, float]:
    produced_s = await set_aside(env.settings, LETTERS)
    reader = LetterReader(env.settings, "ingest")
    try:
        every = await pages(reader, lambda letter: True)
        rare = await pages(reader, lambda letter: letter.reason == "bad-signature")
    finally:
        await reader.close()
    return {
        "deadletters_on_topic": float(LETTERS),
        "deadletters_produced_per_s": round(LETTERS / produced_s, 1),
        **summarise("deadletters_page", every),
        **summarise("deadletters_page_filtered", rare),
        **summarise("deadletters_http_page", await listings(env, "status=all")),
        **summarise("deadletters_http_page_filtered", await listings(env, "reason=bad-signature")),
    }
