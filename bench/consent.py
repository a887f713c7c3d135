"""Revocation-to-enforcement latency: from the revoke request until the query service denies.

Each round: a new patient consents to a provider, a physician's read is polled
until allowed, then the consent is revoked and the read is polled (10 ms apart)
until the query service answers 403. The clock starts when the revoke request
is sent, so the figure includes the consent API, Kafka and the query projection.
"""

from __future__ import annotations

import asyncio
import random
import time

from bench.env import BenchEnv
from bench.stats import summarise
from tests.support.journey import eventually

ROUNDS = 50
WARM_UP = 3  # rounds not measured: connections and consumer fetch sessions settle
POLL_S = 0.01
TIMEOUT_S = 30.0


async def one_round(env: BenchEnv, rng: random.Random, doctor: str, source: str) -> float:
    actors = env.actors
    cid, token = await actors.patient(rng)
    await actors.consent(cid, token, [source])

    async def allowed() -> bool:
        return (await actors.everything(doctor, cid)).status_code == 200

    await eventually(allowed, what="read allowed")
    start = time.perf_counter()
    await actors.revoke(cid, token, source)
    while (await actors.everything(doctor, cid)).status_code != 403:
        if time.perf_counter() - start > TIMEOUT_S:
            raise AssertionError("revocation not enforced within 30 s")
        await asyncio.sleep(POLL_S)
    return (time.perf_counter() - start) * 1000


async def run(env: BenchEnv) -> dict[str, float]:
    rng = random.Random(23)
    source = await env.actors.hospital("10670", "Siriraj Hospital")
    reader = await env.actors.hospital("11535", "Chulalongkorn Hospital", role="consumer")
    doctor = await env.actors.physician(reader, "20001")
    return await revoke_to_enforced(env, rng, doctor, source.code)


async def revoke_to_enforced(
    env: BenchEnv,
    rng: random.Random,
    doctor: str,
    source: str,
    rounds: int = ROUNDS,
    warm_up: int = WARM_UP,
) -> dict[str, float]:
    """``rounds`` measured revocations (after ``warm_up`` unmeasured), p50 and p99."""
    for _ in range(warm_up):
        await one_round(env, rng, doctor, source)
    samples = [await one_round(env, rng, doctor, source) for _ in range(rounds)]
    return summarise("revoke_to_enforced", samples)
