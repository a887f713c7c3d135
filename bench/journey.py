"""Foundation metrics: the whole journey, consent -> upload -> read -> audit -> inbox.

The hospital's adapter connects once and keeps its connection, as a hospital's
adapter does (SASL_SSL with SCRAM: a TLS handshake and a salted-password exchange);
that connection is timed on its own (``hospital_connect_ms``), not in every journey.
The first journeys warm the services up (consumer fetch sessions, connection pools)
and are not measured.
"""

from __future__ import annotations

import random
import time

from healthlink_adapter import KafkaUploader

from bench.env import BenchEnv
from bench.stats import percentile
from healthlink.synthetic import make_patient_bundle
from shared.kafka_admin import hospital_connection
from tests.support.journey import auth, eventually

ROUNDS = 20
WARM_UP = 2


async def one_journey(
    env: BenchEnv, rng: random.Random, doctor: str, adapter: KafkaUploader, source_code: str
) -> float:
    actors = env.actors
    cid, token = await actors.patient(rng)
    start = time.perf_counter()
    await actors.consent(cid, token, [source_code])
    await adapter.send(make_patient_bundle(rng, cid=cid, hospital_code=source_code, n_resources=20))
    await actors.records(doctor, cid)

    async def inbox() -> bool:
        r = await actors.http.get(
            actors.url("notify", f"/patients/{cid}/inbox"), headers=auth(token)
        )
        return any(e["kind"] == "record-accessed" for e in r.json()["entries"])

    await eventually(inbox, what="inbox entry")
    return (time.perf_counter() - start) * 1000


async def run(env: BenchEnv) -> dict[str, float]:
    rng = random.Random(11)
    source = await env.actors.hospital("10670", "Siriraj Hospital")
    reader = await env.actors.hospital("11535", "Chulalongkorn Hospital", role="consumer")
    doctor = await env.actors.physician(reader, "10001")
    settings = env.settings
    connecting = time.perf_counter()
    uploader = KafkaUploader(
        await hospital_connection(settings, source.code),
        source.code,
        source.signer,
        settings.topic_prefix,
    )
    async with uploader as adapter:
        connect_ms = (time.perf_counter() - connecting) * 1000
        for _ in range(WARM_UP):
            await one_journey(env, rng, doctor, adapter, source.code)
        samples = [await one_journey(env, rng, doctor, adapter, source.code) for _ in range(ROUNDS)]
    return {
        "e2e_journey_ms": round(percentile(samples, 50), 1),
        "e2e_journey_p99_ms": round(percentile(samples, 99), 1),
        "hospital_connect_ms": round(connect_ms, 1),
    }
