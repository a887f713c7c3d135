"""Consent benchmarks: registration + consent throughput; revocation-to-enforcement latency.

``registration_consent_per_s``: new patients register, sign in from the wallet at the
auth service (code to the phone, device session, the development face scan checked by
consent's verification, code exchange) and grant consent to every one of
``HOSPITALS`` provider hospitals through the consent API, ``IN_FLIGHT`` patients at a
time (as ``bench.scale``'s step 1); patients / elapsed seconds, with each step's p50
(``registration``, ``verification``, ``consent_hospitals``) to show where a patient's time goes.

``revoke_to_enforced``: each round a new patient consents to a provider, a physician's
read is polled until allowed, then the consent is revoked and the read is polled (10 ms
apart) until the query service answers 403. The clock starts when the revoke request
is sent, so the figure includes the consent API, Kafka and the query projection.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx

from bench.env import BenchEnv
from bench.stats import percentile, summarise
from shared.cid import random_cid
from tests.support.journey import auth, eventually

ROUNDS = 50
PATIENTS = 80  # registrations measured
IN_FLIGHT = 8
HOSPITALS = 20  # provider hospitals every patient consents to
STEP = "consent_hospitals"
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
    results = await revoke_to_enforced(env, rng, doctor, source.code)
    codes = [source.code, *[f"{91001 + i}" for i in range(HOSPITALS - 1)]]
    for code in codes[1:]:
        await env.actors.hospital(code, f"Hospital {code}")
    await registration_consent(env, rng, codes, IN_FLIGHT, IN_FLIGHT)  # warm-up
    _, figures = await registration_consent(env, rng, codes)
    return {**results, **figures}


async def registration_consent(
    env: BenchEnv,
    rng: random.Random,
    codes: list[str],
    patients: int = PATIENTS,
    in_flight: int = IN_FLIGHT,
) -> tuple[list[str], dict[str, float]]:
    """``patients`` registered, verified and consenting to ``codes``, ``in_flight`` at a
    time: their CIDs, ``registration_consent_per_s`` and each step's p50."""
    actors, gate = env.actors, asyncio.Semaphore(in_flight)
    steps: dict[str, list[float]] = {s: [] for s in ("registration", "verification", STEP)}

    async def timed(step: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        began = time.perf_counter()
        r = await actors.http.request(method, actors.url("consent", path), **kwargs)
        steps[step].append((time.perf_counter() - began) * 1000)
        assert r.status_code in (200, 201), r.text
        return r

    async def one() -> str:
        async with gate:
            cid = random_cid(rng)
            body = {"cid": cid, "birth_date": "1980-05-17"}
            await timed("registration", "POST", "/patients", json=body)
            began = time.perf_counter()  # the wallet's sign-in at auth (consent verifies)
            token = await actors.wallet_token(cid)
            steps["verification"].append((time.perf_counter() - began) * 1000)
            path, grant = f"/patients/{cid}/consent/hospitals", {"hospitals": codes}
            await timed(STEP, "POST", path, json=grant, headers=auth(token))
            return cid

    start = time.perf_counter()
    cids = list(await asyncio.gather(*(one() for _ in range(patients))))
    figures = {"registration_consent_per_s": round(patients / (time.perf_counter() - start), 2)}
    for step, samples in steps.items():
        figures[f"{step}_p50_ms"] = round(percentile(samples, 50), 2)
    return cids, figures


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
