"""Ingest: throughput end to end, upload-to-visible latency, the validation ceiling.

- ``validation_ceiling_resources_per_s``: ``parse_bundle`` (JSON + R4B validation
  of every resource + CID rules) over the same bodies, in this process, one thread.
- ``ingest_resources_per_s``: every body published at once through the adapter;
  resources / (first publish -> last ``records.received``). The event is sent only
  after the bulk write is acknowledged, so its arrival means stored.
- ``upload_to_visible_p50_ms`` / ``_p99_ms``: uploads paced at half the measured
  maximum rate; per upload, publish -> ``records.received`` seen (the query service
  reads the same collection). Before the load, a few sequential uploads are also
  polled through the physician's ``$everything`` read (``upload_to_physician_read_*``),
  which adds the query service's own ``records.received`` handling (its chart index).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer

from bench.env import BenchEnv
from bench.stats import percentile, summarise
from healthlink.adapter import HospitalAdapter
from healthlink.synthetic import make_patient_bundle
from services.ingest.bundle import parse_bundle
from shared import topics
from tests.support.journey import eventually

PATIENTS = 8
RESOURCES = 50
FLOOD_UPLOADS = 120
PACED_MAX_UPLOADS = 150
PACED_MAX_S = 15.0
READ_ROUNDS = 5


class Arrivals:
    """``records.received`` events as they arrive: upload id -> (monotonic time, resources)."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[float, int]] = {}

    async def wait_for(self, ids: list[str], timeout_s: float = 120.0) -> None:
        async def all_seen() -> bool:
            return all(i in self.seen for i in ids)

        await eventually(all_seen, timeout_s=timeout_s, what="records.received for every upload")


@asynccontextmanager
async def watching(env: BenchEnv) -> AsyncIterator[Arrivals]:
    settings = env.settings
    consumer = AIOKafkaConsumer(
        topics.named(topics.INGEST_RECORDS, settings.topic_prefix),
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    arrivals = Arrivals()

    async def pump() -> None:
        async for record in consumer:
            data = json.loads(record.value or b"{}")["data"]
            arrivals.seen.setdefault(data["upload_id"], (time.perf_counter(), data["resources"]))

    task = asyncio.create_task(pump())
    try:
        await asyncio.sleep(1.0)  # partitions assigned and positioned at the end
        yield arrivals
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()


def bodies(rng: random.Random, cids: list[str], code: str, n: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        cid = cids[i % len(cids)]
        bundle = make_patient_bundle(rng, cid=cid, hospital_code=code, n_resources=RESOURCES)
        out.append((cid, json.dumps(bundle, ensure_ascii=False).encode()))
    return out


def validation_ceiling(data: list[tuple[str, bytes]]) -> float:
    start = time.perf_counter()
    for _, body in data:
        parse_bundle(body)
    return len(data) * RESOURCES / (time.perf_counter() - start)


async def flood(
    adapter: HospitalAdapter, arrivals: Arrivals, data: list[tuple[str, bytes]]
) -> float:
    ids = [f"flood-{uuid.uuid4()}" for _ in data]
    start = time.perf_counter()
    await asyncio.gather(
        *(
            adapter.send_bytes(body, cid, upload_id=i)
            for i, (cid, body) in zip(ids, data, strict=True)
        )
    )
    await arrivals.wait_for(ids)
    end = max(arrivals.seen[i][0] for i in ids)
    return sum(arrivals.seen[i][1] for i in ids) / (end - start)


async def paced(
    adapter: HospitalAdapter, arrivals: Arrivals, data: list[tuple[str, bytes]], rate: float
) -> list[float]:
    sent: dict[str, float] = {}
    start = time.perf_counter()
    for n, (cid, body) in enumerate(data):
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        upload_id = f"paced-{uuid.uuid4()}"
        sent[upload_id] = time.perf_counter()
        await adapter.send_bytes(body, cid, upload_id=upload_id)
    await arrivals.wait_for(list(sent))
    return [(arrivals.seen[i][0] - t) * 1000 for i, t in sent.items()]


async def physician_reads(
    env: BenchEnv,
    adapter: HospitalAdapter,
    doctor: str,
    cids: list[str],
    rng: random.Random,
    rounds: int,
) -> list[float]:
    """Fresh patients, one upload each, polled through the physician's read."""
    samples = []
    for cid in cids[:rounds]:
        current = await env.actors.everything(doctor, cid)
        before = int(current.json()["total"]) if current.status_code == 200 else 0
        body = make_patient_bundle(
            rng, cid=cid, hospital_code=adapter.hospital, n_resources=20, sensitive_fraction=0.0
        )
        start = time.perf_counter()
        await adapter.send(body)

        async def visible(cid: str = cid, want: int = before + 20) -> bool:
            r = await env.actors.everything(doctor, cid)
            return r.status_code == 200 and int(r.json()["total"]) >= want

        await eventually(visible, timeout_s=180.0, what="upload readable by the physician")
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def run(env: BenchEnv) -> dict[str, float]:
    rng = random.Random(404)
    actors, settings = env.actors, env.settings
    source = await actors.hospital("10707", "Khon Kaen Hospital")
    reader = await actors.hospital("10713", "Maharaj Nakorn Chiang Mai Hospital", role="consumer")
    doctor = await actors.physician(reader, "40404")
    cids = []
    for _ in range(PATIENTS + READ_ROUNDS + 1):
        cid, token = await actors.patient(rng)
        await actors.consent(cid, token, [source.code])
        cids.append(cid)
    cids, readers = cids[:PATIENTS], cids[PATIENTS:]
    flood_data = bodies(rng, cids, source.code, FLOOD_UPLOADS)
    ceiling = validation_ceiling(flood_data)
    async with (
        watching(env) as arrivals,
        HospitalAdapter(
            settings.kafka_bootstrap, source.code, source.upload_key, settings.topic_prefix
        ) as adapter,
    ):
        await physician_reads(env, adapter, doctor, readers[:1], rng, 1)  # warm-up
        reads = await physician_reads(env, adapter, doctor, readers[1:], rng, READ_ROUNDS)
        throughput = await flood(adapter, arrivals, flood_data)
        rate = throughput / RESOURCES / 2  # uploads/s at half the maximum load
        count = min(PACED_MAX_UPLOADS, max(20, int(rate * PACED_MAX_S)))
        latencies = await paced(adapter, arrivals, bodies(rng, cids, source.code, count), rate)
    return {
        "validation_ceiling_resources_per_s": round(ceiling, 1),
        "ingest_resources_per_s": round(throughput, 1),
        "ingest_share_of_ceiling_pct": round(100 * throughput / ceiling, 1),
        "ingest_half_load_uploads_per_s": round(rate, 2),
        "upload_to_visible_p50_ms": round(percentile(latencies, 50), 1),
        "upload_to_visible_p99_ms": round(percentile(latencies, 99), 1),
        **summarise("upload_to_physician_read", reads),
    }
