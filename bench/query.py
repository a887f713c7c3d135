"""Query latency: summary and $everything for a patient with 1,000 records from 5 hospitals.

The records arrive the real way (signed uploads through ingest, then the query
service's chart rebuild); each request is timed at the client, body included.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from healthlink_adapter import KafkaUploader, Signer

from bench.env import BenchEnv
from bench.stats import summarise
from healthlink.synthetic import THAI_HOSPITALS, make_patient_bundle
from shared.kafka_admin import hospital_connection
from tests.support.journey import auth, eventually

SOURCES = [code for code, _, _ in THAI_HOSPITALS if code != "11535"][:5]
BUNDLES_PER_SOURCE = 4
CLINICAL_PER_BUNDLE = 50  # 5 x 4 x 50 = 1,000 clinical records (+ one Patient per bundle)
PER_BUNDLE = CLINICAL_PER_BUNDLE + 1
SAMPLES = 100
WARMUP = 5


async def send(env: BenchEnv, keys: dict[str, Signer], bundles: list[tuple[str, Any]]) -> None:
    """Publish the signed uploads (sending again is idempotent)."""
    settings = env.settings
    for code in SOURCES:
        async with KafkaUploader(
            await hospital_connection(settings, code), code, keys[code], settings.topic_prefix
        ) as adapter:
            for source, bundle in bundles:
                if source == code:
                    await adapter.send(bundle)


@dataclass
class Chart:
    """A patient with 1,000 clinical records from 5 hospitals, whole in the physician's read."""

    cid: str
    summary_url: str
    everything_url: str
    search_url: str  # a typical search: one category of one type, newest first


async def large_chart(env: BenchEnv, rng: random.Random, doctor: str) -> Chart:
    actors = env.actors
    keys: dict[str, Signer] = {}
    for code in SOURCES:
        keys[code] = (await actors.hospital(code, f"Hospital {code}")).signer
    cid, token = await actors.patient(rng)
    await actors.consent(cid, token, SOURCES)
    bundles = [
        (
            code,
            make_patient_bundle(
                rng, cid=cid, hospital_code=code, n_resources=PER_BUNDLE, sensitive_fraction=0.0
            ),
        )
        for code in SOURCES
        for _ in range(BUNDLES_PER_SOURCE)
    ]
    chart = Chart(
        cid,
        actors.url("query", f"/patients/{cid}/summary"),
        actors.url("query", f"/fhir/Patient/{cid}/$everything?_count=1000"),
        actors.url("query", f"/fhir/Observation?patient={cid}&category=laboratory&_sort=-date"),
    )
    expected = len(SOURCES) * BUNDLES_PER_SOURCE * CLINICAL_PER_BUNDLE

    async def all_visible() -> bool:
        r = await actors.http.get(chart.summary_url, headers=auth(doctor))
        return r.status_code == 200 and r.json()["total"] >= expected

    for attempt in range(4):  # an upload racing the hospital's registration is set aside
        await send(env, keys, bundles)
        try:
            await eventually(all_visible, timeout_s=40, what="1,000 records visible")
            break
        except AssertionError:
            r = await actors.http.get(chart.summary_url, headers=auth(doctor))
            print(f"[bench.query] {r.status_code} {r.text[:120]}; sending again", flush=True)
            if attempt == 3:
                raise
    return chart


async def charts_caught_up(
    env: BenchEnv,
    sign_in: Callable[[], Awaitable[str]],
    cids: list[str],
    timeout_s: float = 3600.0,
    fresh_s: float = 600.0,
) -> dict[str, float]:
    """Seconds from now until query's charts hold everything announced stored: a read of
    each of ``cids`` (patients spread over the partitions) is served instead of answered
    503 by the read barrier (charts behind, services/query/freshness.py). A physician
    signs in again (``sign_in``) every ``fresh_s``: tokens last 15 minutes, a catch-up
    after a large load can last longer."""
    doctor = await sign_in()
    start = signed = time.perf_counter()
    pending = set(cids)

    async def served(cid: str) -> bool:
        url = env.actors.url("query", f"/patients/{cid}/summary")
        r = await env.actors.http.get(url, headers=auth(doctor), timeout=60.0)
        assert r.status_code in (200, 503), r.text[:200]
        return r.status_code == 200

    while pending:
        if time.perf_counter() - start > timeout_s:
            raise AssertionError(f"charts still behind after {timeout_s:.0f} s")
        if time.perf_counter() - signed > fresh_s:
            doctor, signed = await sign_in(), time.perf_counter()
        done = await asyncio.gather(*(served(cid) for cid in sorted(pending)))
        pending -= {cid for cid, ok in zip(sorted(pending), done, strict=True) if ok}
    return {"charts_catchup_s": round(time.perf_counter() - start, 1)}


async def latencies(
    env: BenchEnv, doctor: str, urls: dict[str, str], samples: int = SAMPLES
) -> dict[str, float]:
    """Per named URL: ``WARMUP`` unmeasured requests, then ``samples`` timed; p50 and p99."""

    async def timed(url: str) -> float:
        start = time.perf_counter()
        r = await env.actors.http.get(url, headers=auth(doctor))
        _ = r.content
        assert r.status_code == 200, r.text[:200]
        return (time.perf_counter() - start) * 1000

    results: dict[str, float] = {}
    for name, url in urls.items():
        for _ in range(WARMUP):
            await timed(url)
        results.update(summarise(name, [await timed(url) for _ in range(samples)]))
    return results


async def run(env: BenchEnv) -> dict[str, float]:
    reader = await env.actors.hospital("11535", "Chulalongkorn Hospital", role="consumer")
    doctor = await env.actors.physician(reader, "30001")
    chart = await large_chart(env, random.Random(5), doctor)
    urls = {"summary": chart.summary_url, "everything": chart.everything_url}
    results = await latencies(env, doctor, urls)
    r = await env.actors.http.get(chart.everything_url, headers=auth(doctor))
    matches = [e for e in r.json()["entry"] if e["search"]["mode"] == "match"]  # not the limits
    results["everything_entries"] = float(len(matches))
    return results
