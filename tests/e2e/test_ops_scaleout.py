"""Scale-out: two ingest and two audit instances share their consumer groups."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from healthlink.synthetic import make_patient_bundle
from shared import topics
from shared.database import Document
from shared.settings import Settings
from tests.support.journey import OPERATOR, Actors, eventually, uploader
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e
PATIENTS = 16
SCALED = {"ingest": ("ingest", "ingest-2"), "audit": ("audit", "audit-2")}
ASSIGNED = re.compile(
    r'healthlink_consumer_assigned\{partition="(\d+)",service="\w+",topic="([^"]+)"\}'
)


@pytest.fixture(scope="module")
def ops_platform(
    ops_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    running = Platform(ops_settings, Path(tmp_path_factory.mktemp("ops-scale-logs")))
    try:
        running.start_all()
        for service in SCALED:
            running.start_replica(service, 2)
        for service in SCALED:
            running.wait_ready(f"{service}-2")
        yield running
    finally:
        running.stop_all()


async def assignment(ops: Actors, instance: str) -> set[tuple[str, int]]:
    text = (await ops.http.get(ops.url(instance, "/metrics"))).text
    return {(topic, int(p)) for p, topic in ASSIGNED.findall(text)}


async def consumed(ops: Actors, instance: str, topic: str) -> float:
    text = (await ops.http.get(ops.url(instance, "/metrics"))).text
    pattern = (
        rf'healthlink_messages_consumed_total\{{service="\w+",topic="{re.escape(topic)}"\}} (\S+)'
    )
    return sum(float(v) for v in re.findall(pattern, text))


async def test_two_instances_split_the_partitions_and_process_everything_once(
    ops: Actors, ops_settings: Settings
) -> None:
    for service, (first, second) in SCALED.items():

        async def split(first: str = first, second: str = second) -> bool:
            a, b = await assignment(ops, first), await assignment(ops, second)
            return bool(a) and bool(b) and not (a & b) and len(a | b) % 6 == 0

        await eventually(split, timeout_s=90, what=f"{service} partitions split in two")
        a, b = await assignment(ops, first), await assignment(ops, second)
        per_topic = {t for t, _ in a | b}
        assert len(a | b) == 6 * len(per_topic)  # every partition owned by exactly one

    rng = random.Random(23)
    source = await ops.hospital("10670", "Siriraj Hospital")
    reader = await ops.hospital("11535", "Chulalongkorn Hospital", role="consumer")
    doctor = await ops.physician(reader, "13579")
    expected: dict[str, set[str]] = {}
    async with uploader(ops_settings, source) as adapter:
        for _ in range(PATIENTS):
            cid, token = await ops.patient(rng)
            await ops.consent(cid, token, [source.code])
            bundle = make_patient_bundle(rng, cid=cid, hospital_code=source.code, n_resources=9)
            ids = {f"{source.code}/{e['resource']['resourceType']}/{e['resource']['id']}"
                   for e in bundle["entry"]}  # fmt: skip
            expected[cid] = ids
            await adapter.send(bundle)
            await adapter.send(bundle)  # a resend: stored once in effect
    client: AsyncMongoClient[Document] = AsyncMongoClient(ops_settings.mongo_url)
    try:
        records = client[ops_settings.db_name("ingest")].records
        wanted = sorted(i for s in expected.values() for i in s)

        async def all_stored() -> list[str] | None:
            query = {"patient": {"$in": list(expected)}}
            found = sorted([d["_id"] async for d in records.find(query, {"_id": 1})])
            return found if len(found) >= len(wanted) else None

        assert await eventually(all_stored, timeout_s=90, what="every upload stored") == wanted
        for cid in expected:
            await ops.records(doctor, cid)

        audit = client[ops_settings.db_name("audit")].records

        async def all_audited() -> list[Document] | None:
            docs = [d async for d in audit.find({"patient": {"$in": list(expected)}})]
            reads = {d["event_id"] for d in docs if d.get("decision") == "permit"}
            return docs if len(reads) >= PATIENTS else None

        docs = await eventually(all_audited, timeout_s=90, what="every read audited")
        event_ids = [d["event_id"] for d in docs]
        assert len(event_ids) == len(set(event_ids))  # nothing twice
    finally:
        await client.close()

    for instance in SCALED["ingest"]:
        assert await consumed(ops, instance, topics.INGEST_UPLOADS) > 0, instance
    for instance in SCALED["audit"]:
        r = await ops.http.get(ops.url(instance, "/audit/verify"), headers=OPERATOR)
        assert r.status_code == 200 and r.json()["ok"] is True, r.text
