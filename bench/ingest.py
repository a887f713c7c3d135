"""Ingest: throughput end to end, upload-to-visible latency, the validation ceiling.

- ``validation_ceiling_resources_per_s``: ``parse_bundle`` (JSON + R4B validation
  of every resource + CID rules) over the same bodies, in this process, one thread.
- ``ingest_resources_per_s``: every body published at once through the adapter;
  resources / (first publish -> last ``records.received``). The event is sent only
  after the bulk write is acknowledged, so its arrival means stored.
- ``flood_stored_s`` / ``flood_visible_s``: first publish -> the flood all stored, and
  -> every flooded patient's chart whole in the physician's read model (query merges
  charts at a lower CPU priority, so they trail the flood; the paced phase starts
  only after, so it does not measure the catch-up).
- ``upload_to_visible_p50_ms`` / ``_p99_ms``: uploads paced at half the measured
  maximum rate, to patients of their own; per upload, publish -> its resources are
  in the chart the physician's read serves (the query service's chart index lists
  them: the read path looks there first). A probe polls that index every 20 ms;
  ``upload_to_stored_*`` is publish -> ``records.received`` for the same uploads.
  Before the load, a few sequential uploads are polled through the physician's
  ``$everything`` read itself (``upload_to_physician_read_*``), the same path end to end.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer
from healthlink_adapter import KafkaUploader

from bench.env import BenchEnv
from bench.stats import percentile, summarise
from healthlink.synthetic import make_patient_bundle
from services.ingest.app import MODEL_TYPES
from services.ingest.bundle import parse_bundle, warm_up
from services.ingest.documents import to_documents
from shared import topics
from shared.database import make_client
from shared.kafka_admin import hospital_connection
from shared.kafka_client import ADMIN, client_options
from tests.support.journey import eventually

PATIENTS = 8
PACED_PATIENTS = 24
RESOURCES = 50
FLOOD_UPLOADS = 400  # ~20,000 resources: long enough to measure the sustained rate
PACED_MAX_UPLOADS = 150
PACED_MAX_S = 15.0
READ_ROUNDS = 5
PROBE_EVERY_S = 0.02
FLOOD_PROBE_EVERY_S = 0.1  # seconds matter there; a lighter probe during the flood


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
        **client_options(settings, ADMIN),
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
    """Validation alone, one core, warm (models loaded first, as ingest does at start)."""
    warm_up(MODEL_TYPES)
    start = time.perf_counter()
    for _, body in data:
        parse_bundle(body)
    return len(data) * RESOURCES / (time.perf_counter() - start)


@dataclass
class Flood:
    resources_per_s: float  # first publish -> last upload stored
    stored_s: float
    visible_s: float  # first publish -> every upload in the physician's read model


async def flood(
    env: BenchEnv, adapter: KafkaUploader, arrivals: Arrivals, data: list[tuple[str, bytes]]
) -> Flood:
    final = dict(zip((cid for cid, _ in data), chart_sizes(data, adapter.hospital), strict=True))
    ids = [f"flood-{uuid.uuid4()}" for _ in data]
    start = time.perf_counter()
    charts = {cid: Pending(cid, size, start) for cid, size in final.items()}
    probe = asyncio.create_task(
        visible_when(env, adapter.hospital, charts, len(charts), FLOOD_PROBE_EVERY_S)
    )
    await asyncio.gather(
        *(
            adapter.send_bytes(body, cid, upload_id=i)
            for i, (cid, body) in zip(ids, data, strict=True)
        )
    )
    await arrivals.wait_for(ids)
    end = max(arrivals.seen[i][0] for i in ids)
    visible = await probe
    if len(visible) < len(charts):
        raise AssertionError(f"{len(charts) - len(visible)} flooded charts never became whole")
    resources = sum(arrivals.seen[i][1] for i in ids)
    return Flood(resources / (end - start), end - start, max(visible.values()) - start)


def chart_sizes(data: list[tuple[str, bytes]], hospital: str) -> list[int]:
    """Per upload, how many resources its patient's chart holds once it is merged."""
    seen: dict[str, set[str]] = {}
    sizes = []
    for cid, body in data:
        ids = seen.setdefault(cid, set())
        ids.update(record_ids(body, hospital))
        sizes.append(len(ids))
    return sizes


def record_ids(body: bytes, hospital: str) -> list[str]:
    """The ``_id`` of each record ingest stores for this upload from ``hospital``."""
    docs = to_documents(parse_bundle(body), hospital, "probe", datetime.now(UTC)).docs
    return [str(doc["_id"]) for doc in docs]


@dataclass
class Pending:
    cid: str
    size: int
    sent: float


async def visible_when(
    env: BenchEnv,
    hospital: str,
    pending: dict[str, Pending],
    total: int,
    every_s: float = PROBE_EVERY_S,
) -> dict[str, float]:
    """Poll the query service's chart index until all ``total`` uploads are listed."""
    client = make_client(env.settings)
    index = client[env.settings.db_name("query")].chart_index
    seen: dict[str, float] = {}
    try:
        deadline = time.perf_counter() + 180.0
        while len(seen) < total and time.perf_counter() < deadline:
            waiting = {k: p for k, p in pending.items() if k not in seen}
            cids = sorted({p.cid for p in waiting.values()})
            sizes = {doc["_id"]: int(doc.get("charts", {}).get(hospital, {}).get("n", 0))
                     async for doc in index.find({"_id": {"$in": cids}})}  # fmt: skip
            now = time.perf_counter()
            for key, p in waiting.items():
                if sizes.get(p.cid, 0) >= p.size:
                    seen[key] = now
            await asyncio.sleep(every_s)
    finally:
        await client.close()
    return seen


async def paced(
    env: BenchEnv,
    adapter: KafkaUploader,
    arrivals: Arrivals,
    data: list[tuple[str, bytes]],
    rate: float,
) -> tuple[list[float], list[float]]:
    """Per upload: publish -> stored, and publish -> visible in the physician's read model."""
    sizes = chart_sizes(data, adapter.hospital)
    pending: dict[str, Pending] = {}
    probe: asyncio.Task[dict[str, float]] | None = None
    start = time.perf_counter()
    for n, (cid, body) in enumerate(data):
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        upload_id = f"paced-{uuid.uuid4()}"
        pending[upload_id] = Pending(cid, sizes[n], time.perf_counter())
        await adapter.send_bytes(body, cid, upload_id=upload_id)
        if probe is None:
            probe = asyncio.create_task(visible_when(env, adapter.hospital, pending, len(data)))
    await arrivals.wait_for(list(pending))
    assert probe is not None
    visible = await probe
    missing = [k for k in pending if k not in visible]
    if missing:
        raise AssertionError(f"{len(missing)} paced uploads never became visible")
    stored = [(arrivals.seen[k][0] - p.sent) * 1000 for k, p in pending.items()]
    shown = [(visible[k] - p.sent) * 1000 for k, p in pending.items()]
    return stored, shown


async def physician_reads(
    env: BenchEnv,
    adapter: KafkaUploader,
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
    for _ in range(PATIENTS + READ_ROUNDS + 1 + PACED_PATIENTS):
        cid, token = await actors.patient(rng)
        await actors.consent(cid, token, [source.code])
        cids.append(cid)
    cids, readers, fresh = (
        cids[:PATIENTS],
        cids[PATIENTS : PATIENTS + READ_ROUNDS + 1],
        cids[PATIENTS + READ_ROUNDS + 1 :],
    )
    flood_data = bodies(rng, cids, source.code, FLOOD_UPLOADS)
    ceiling = validation_ceiling(flood_data)
    async with (
        watching(env) as arrivals,
        KafkaUploader(
            await hospital_connection(settings, source.code),
            source.code,
            source.signer,
            settings.topic_prefix,
        ) as adapter,
    ):
        await physician_reads(env, adapter, doctor, readers[:1], rng, 1)  # warm-up
        reads = await physician_reads(env, adapter, doctor, readers[1:], rng, READ_ROUNDS)
        flooded = await flood(env, adapter, arrivals, flood_data)
        throughput = flooded.resources_per_s
        rate = throughput / RESOURCES / 2  # uploads/s at half the maximum load
        count = min(PACED_MAX_UPLOADS, max(20, int(rate * PACED_MAX_S)))
        stored, latencies = await paced(
            env, adapter, arrivals, bodies(rng, fresh, source.code, count), rate
        )
    return {
        "validation_ceiling_resources_per_s": round(ceiling, 1),
        "ingest_resources_per_s": round(throughput, 1),
        "ingest_share_of_ceiling_pct": round(100 * throughput / ceiling, 1),
        "ingest_half_load_uploads_per_s": round(rate, 2),
        "flood_stored_s": round(flooded.stored_s, 2),
        "flood_visible_s": round(flooded.visible_s, 2),
        "upload_to_visible_p50_ms": round(percentile(latencies, 50), 1),
        "upload_to_visible_p99_ms": round(percentile(latencies, 99), 1),
        "upload_to_stored_p50_ms": round(percentile(stored, 50), 1),
        "upload_to_stored_p99_ms": round(percentile(stored, 99), 1),
        **summarise("upload_to_physician_read", reads),
    }
