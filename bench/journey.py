"""Foundation metrics: the whole journey, consent -> upload -> read -> audit -> inbox."""

from __future__ import annotations

import random
import time

from healthlink_adapter import KafkaUploader, Signer

from bench.env import BenchEnv
from bench.stats import percentile
from healthlink.synthetic import make_patient_bundle
from shared.kafka_admin import hospital_connection
from tests.support.journey import auth, eventually

ROUNDS = 10


async def one_journey(
    env: BenchEnv, rng: random.Random, doctor: str, source_code: str, signer: Signer
) -> float:
    actors, settings = env.actors, env.settings
    cid, token = await actors.patient(rng)
    start = time.perf_counter()
    await actors.consent(cid, token, [source_code])
    async with KafkaUploader(
        await hospital_connection(settings, source_code),
        source_code,
        signer,
        settings.topic_prefix,
    ) as adapter:
        await adapter.send(
            make_patient_bundle(rng, cid=cid, hospital_code=source_code, n_resources=20)
        )
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
    samples = [
        await one_journey(env, rng, doctor, source.code, source.signer) for _ in range(ROUNDS)
    ]
    return {
        "e2e_journey_ms": round(percentile(samples, 50), 1),
        "e2e_journey_p99_ms": round(percentile(samples, 99), 1),
    }
