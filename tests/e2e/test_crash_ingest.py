"""SIGKILL the ingest service while uploads flow; after a restart every upload is stored once."""

from __future__ import annotations

import asyncio
import random

import pytest

from healthlink.synthetic import make_patient_bundle
from shared.database import make_client
from shared.settings import Settings
from tests.support.journey import Actors, eventually, uploader
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e
UPLOADS = 40
PER_BUNDLE = 15


async def test_ingest_killed_mid_stream_loses_and_duplicates_nothing(
    actors: Actors, platform: Platform, settings: Settings
) -> None:
    rng = random.Random(2026)
    source = await actors.hospital("14001", "Crash Test Hospital")
    patients = [await actors.patient(rng) for _ in range(4)]
    for cid, token in patients:
        await actors.consent(cid, token, [source.code])
    bundles = [
        make_patient_bundle(
            rng, cid=patients[i % 4][0], hospital_code=source.code, n_resources=PER_BUNDLE
        )
        for i in range(UPLOADS)
    ]
    expected = {
        (e["resource"]["resourceType"], e["resource"]["id"]) for b in bundles for e in b["entry"]
    }
    client = make_client(settings)
    records = client[settings.db_name("ingest")].records
    try:
        async with uploader(settings, source) as adapter:
            receipts = [await adapter.send(b) for b in bundles[: UPLOADS // 2]]

            async def some_stored() -> bool:
                return await records.count_documents({"hospital": source.code}) > 0

            await eventually(some_stored, what="first uploads stored")
            platform.kill("ingest")
            receipts += [await adapter.send(b) for b in bundles[UPLOADS // 2 :]]
        platform.start("ingest")
        platform.wait_ready("ingest")

        async def all_stored() -> bool:
            return await records.count_documents({"hospital": source.code}) >= len(expected)

        await eventually(all_stored, timeout_s=120, what="every upload stored")
        await asyncio.sleep(0)  # let nothing else in: the count below is the final word
        docs = [
            d async for d in records.find({"hospital": source.code}, {"type": 1, "upload_id": 1})
        ]
    finally:
        await client.close()
    stored = [(d["type"], d["_id"].rsplit("/", 1)[1]) for d in docs]
    assert len(stored) == len(set(stored)), "a resource was stored twice"
    assert set(stored) == expected, "a resource was lost"
    assert {d["upload_id"] for d in docs} == set(receipts)
