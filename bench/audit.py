"""Audit lag: a read served (the access event's ``time``) -> its audit record stored.

``stored_at`` is written by the audit service when it inserts the record; both clocks
are this machine's. Reads are paced (not a flood) so the figure is the lag of a
service keeping up, not of a backlog draining.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime

from healthlink_adapter import KafkaUploader

from bench.env import BenchEnv
from bench.stats import summarise
from healthlink.synthetic import make_patient_bundle
from shared.database import Document, make_client
from shared.kafka_admin import hospital_connection
from tests.support.journey import eventually

READS = 200
PACE_S = 0.05


async def run(env: BenchEnv) -> dict[str, float]:
    actors, settings = env.actors, env.settings
    rng = random.Random(23)
    source = await actors.hospital("10670", "Siriraj Hospital")
    reader = await actors.hospital("11535", "Chulalongkorn Hospital", role="consumer")
    cid, token = await actors.patient(rng)
    await actors.consent(cid, token, [source.code])
    doctor = await actors.physician(reader, "10002")
    async with KafkaUploader(
        await hospital_connection(settings, source.code),
        source.code,
        source.signer,
        settings.topic_prefix,
    ) as adapter:
        await adapter.send(make_patient_bundle(rng, cid=cid, hospital_code=source.code))
    await actors.records(doctor, cid)
    return await audit_lag(env, doctor, cid)


async def audit_lag(env: BenchEnv, doctor: str, cid: str, reads: int = READS) -> dict[str, float]:
    """``reads`` paced reads of ``cid``'s chart; served -> audit record stored, p50 and p99."""
    actors, settings = env.actors, env.settings
    for _ in range(reads):
        await actors.everything(doctor, cid)
        await asyncio.sleep(PACE_S)  # pacing the load, not waiting for a result
    client = make_client(settings)
    try:
        records = client[settings.db_name("audit")].records

        async def stored() -> list[Document] | None:
            docs = await records.find({"kind": "access", "patient": cid}).to_list()
            return docs if len(docs) >= reads else None

        docs = await eventually(stored, timeout_s=120, what="every read audited")
        arrivals = client[settings.db_name("audit")].arrivals
        ids = [doc["_id"] for doc in docs]
        stored_at_of = {
            a["_id"]: a["stored_at"] async for a in arrivals.find({"_id": {"$in": ids}})
        }
    finally:
        await client.close()
    lags = []
    for doc in docs:
        served = datetime.fromisoformat(doc["body"]["data"]["time"])
        stored_at = stored_at_of.get(doc["_id"])
        assert isinstance(stored_at, datetime)
        lags.append((stored_at - served).total_seconds() * 1000)
    return summarise("audit_lag", lags)
