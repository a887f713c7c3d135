"""Operations: replay throughput, /metrics scrape and dead-letter listing latency."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Awaitable, Callable

from healthlink_adapter import KafkaUploader
from pymongo import AsyncMongoClient

from bench.env import BenchEnv
from bench.stats import percentile
from healthlink.replay import replay
from healthlink.synthetic import make_patient_bundle
from shared import topics
from shared.database import Document
from shared.kafka_admin import hospital_connection
from tests.support.journey import OPERATOR, eventually

Count = Callable[[], Awaitable[int]]

PATIENTS = 40
SCRAPES = 50
LISTINGS = 50


async def timed_get(env: BenchEnv, url: str, headers: dict[str, str], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        r = await env.actors.http.get(url, headers=headers)
        samples.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200, r.text
    return samples


def cpu_ms(pid: int) -> float:
    """A process's CPU time so far (user + system), from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


async def run(env: BenchEnv) -> dict[str, float]:
    rng = random.Random(31)
    actors, settings = env.actors, env.settings
    source = await actors.hospital("10670", "Siriraj Hospital")
    async with KafkaUploader(
        await hospital_connection(settings, source.code),
        source.code,
        source.signer,
        settings.topic_prefix,
    ) as adapter:
        for i in range(PATIENTS):
            cid, token = await actors.patient(rng)
            if i % 2 == 0:  # half without consent: set aside as dead letters
                await actors.consent(cid, token, [source.code])
            await adapter.send(make_patient_bundle(rng, cid=cid, hospital_code=source.code))
    client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_url)
    records = client[settings.db_name("ingest")].records

    async def stored() -> int:
        return await records.count_documents({}) >= PATIENTS // 2 * 20

    await eventually(stored, timeout_s=120, what="uploads stored")
    scrape = await timed_get(env, actors.url("ingest", "/metrics"), {}, SCRAPES)
    listed = actors.url("ingest", "/admin/deadletters")
    await timed_get(env, listed, OPERATOR, 1)  # the first page starts the service's reader
    ingest = env.platform.procs["ingest"].pid
    cpu_before = cpu_ms(ingest)
    listing = await timed_get(env, listed, OPERATOR, LISTINGS)
    listing_cpu = (cpu_ms(ingest) - cpu_before) / LISTINGS

    await client.close()
    return {
        **(await replay_ingest(env)),
        "ops_metrics_scrape_p50_ms": round(percentile(scrape, 50), 2),
        "ops_metrics_scrape_p99_ms": round(percentile(scrape, 99), 2),
        "ops_deadletters_list_p50_ms": round(percentile(listing, 50), 2),
        "ops_deadletters_list_p99_ms": round(percentile(listing, 99), 2),
        # ingest's CPU per listing (its process, /proc): steadier than latency here
        "ops_deadletters_list_cpu_ms": round(listing_cpu, 2),
    }


async def replay_ingest(
    env: BenchEnv, ready_s: float = 120.0, count: Count | None = None
) -> dict[str, float]:
    """Stop ingest, drop its database, ``healthlink replay ingest``, check, start it again.
    ``count``: the records in ingest's store (default ``count_documents``; ``bench.scale``
    counts large stores with PostgreSQL)."""
    settings = env.settings
    client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_url)
    records = client[settings.db_name("ingest")].records
    count = count or (lambda: records.count_documents({}))
    try:
        env.platform.stop("ingest")
        before = await count()
        await client.drop_database(settings.db_name("ingest"))
        report = await replay(settings, "ingest")
        assert await count() == before
    finally:
        await client.close()
        env.platform.start("ingest")
        env.platform.wait_ready("ingest", ready_s)
    uploads = sum(p.count for p in report.partitions if p.topic.endswith(topics.INGEST_UPLOADS))
    return {
        "ops_replay_ingest_msgs_per_s": round(report.messages / report.seconds, 1),
        "ops_replay_ingest_resources_per_s": round(before / report.seconds, 1),
        "ops_replay_ingest_s": report.seconds,
        # without the fixed start (the validation worker processes: about 4 s here)
        "ops_replay_ingest_handling_msgs_per_s": round(report.messages / report.handling_s, 1),
        "ops_replay_ingest_handling_uploads_per_s": round(uploads / report.handling_s, 1),
    }
