"""The query service's chart store on the real database: parts, folding, sweeping.

Records arrive as ``records.stored`` records (built with ingest's own functions);
every chart read back from a cold store (empty cache) must equal the records'
newest versions, whatever the order and however often they were merged.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from healthlink.synthetic import make_patient_bundle
from services.ingest.bundle import parse_bundle
from services.ingest.documents import stored_record, to_documents
from services.query.chartparts import PARTS_BEFORE_COMPACTION, ChartCache
from services.query.chartstore import ChartStore
from shared.cid import random_cid
from shared.database import Document, make_client
from shared.settings import Settings

pytestmark = pytest.mark.integration

SOURCE = "10670"


def upload_records(rng: random.Random, cid: str, n: int, **kwargs: Any) -> list[Document]:
    bundle = make_patient_bundle(rng, cid=cid, hospital_code=SOURCE, n_resources=n, **kwargs)
    parsed = parse_bundle(json.dumps(bundle).encode(), max_bytes=10_000_000)
    docs = to_documents(parsed, SOURCE, uuid.uuid4().hex, datetime.now(UTC)).docs
    return [stored_record(d) for d in docs]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Any]:
    client = make_client(settings)
    yield client[settings.db_name("query")]
    await client.close()


def store(db: Any, clock: Clock | None = None) -> ChartStore:
    return ChartStore(db, ChartCache(50_000_000), clock or Clock())


async def read(charts: ChartStore, cid: str) -> list[dict[str, Any]]:
    index = await charts.index(cid)
    return await charts.entries(cid, index, list(index))


async def merge(charts: ChartStore, cid: str, records: list[Document]) -> str:
    listed = (await charts.indexes([cid]))[cid].get(SOURCE)
    return await charts.merge(cid, SOURCE, records, listed)


async def test_many_merges_fold_into_parts_and_read_back_whole(db: Any) -> None:
    rng = random.Random(61)
    cid = random_cid(rng)
    clock = Clock()
    charts = store(db, clock)
    uploads = [upload_records(rng, cid, 6) for _ in range(PARTS_BEFORE_COMPACTION + 3)]
    for records in uploads:
        await merge(charts, cid, records)
    listed = (await charts.index(cid))[SOURCE]
    assert len(listed["parts"]) < PARTS_BEFORE_COMPACTION, "parts were folded"
    expected = {(r.type, r.resource_id) for records in uploads for r in records}
    assert listed["n"] == len(expected)

    cold = store(db)  # another instance: nothing cached
    entries = await read(cold, cid)
    assert {(e["type"], e["id"]) for e in entries} == expected
    assert len(entries) == len(expected), "each resource once"

    retired = await db.charts.count_documents({"patient": cid})
    clock.now += 3600
    assert await charts.sweep() > 0
    assert await db.charts.count_documents({"patient": cid}) < retired
    assert {(e["type"], e["id"]) for e in await read(store(db), cid)} == expected


async def test_merging_again_or_out_of_order_changes_nothing(db: Any) -> None:
    rng = random.Random(62)
    cid = random_cid(rng)
    charts = store(db)
    newer = upload_records(random.Random(7), cid, 8, version=2, updated="2026-11-03T09:00:00+07:00")
    older = upload_records(random.Random(7), cid, 8, version=1)
    first = await merge(charts, cid, newer)
    assert await merge(charts, cid, newer) == first, "a redelivery adds nothing"
    assert await merge(charts, cid, older) == first, "an older version never replaces"
    entries = await read(store(db), cid)
    versions = {json.loads(e["json"])["meta"]["versionId"] for e in entries}
    assert versions == {"2"} and len(entries) == 8


async def test_two_instances_merging_the_same_chart_lose_nothing(db: Any) -> None:
    rng = random.Random(63)
    cid = random_cid(rng)
    one, two = store(db), store(db)
    a, b = upload_records(rng, cid, 5), upload_records(rng, cid, 7)
    listed = (await one.indexes([cid]))[cid].get(SOURCE)
    await one.merge(cid, SOURCE, a, listed)
    await two.merge(cid, SOURCE, b, listed)  # stale listing: must retry on the new chart
    entries = await read(store(db), cid)
    expected = {(r.type, r.resource_id) for r in a + b}
    assert {(e["type"], e["id"]) for e in entries} == expected


async def test_the_indexes_of_a_batch_are_read_by_id_each_in_order(db: Any) -> None:
    rng = random.Random(64)
    charts = store(db)
    cids = [random_cid(rng) for _ in range(19)]  # more than one round of reads in flight
    for cid in cids[::2]:
        await merge(charts, cid, upload_records(rng, cid, 2))
    found = await charts.indexes([*cids, cids[0]])  # a patient twice: once in the answer
    assert list(found) == cids
    assert all(SOURCE in found[cid] for cid in cids[::2])
    assert all(found[cid] == {} for cid in cids[1::2])


async def test_resources_are_located_one_document_per_merge_and_the_older_shape_too(
    db: Any,
) -> None:
    rng = random.Random(11)
    cid, other = random_cid(rng), random_cid(rng)
    charts = store(db)
    records = upload_records(rng, cid, 30)
    await charts.merge(cid, SOURCE, records, None)
    await charts.merge(cid, SOURCE, records, (await charts.index(cid)).get(SOURCE))  # again
    assert await db.resource_locations.count_documents({}) == 1  # nothing new: no document
    doc = await db.resource_locations.find_one({})
    assert len(doc["refs"]) == len(records)
    ref = f"{records[3].type}/{records[3].resource_id}"
    assert await charts.locate(ref) == [(cid, SOURCE)]
    # a location kept one per resource (the shape before) is still found
    old = {"_id": f"{SOURCE}/Observation/old-1", "ref": "Observation/old-1", "patient": other}
    await db.resource_locations.insert_one({**old, "hospital": SOURCE})
    assert await charts.locate("Observation/old-1") == [(other, SOURCE)]
    assert await charts.locate("Observation/never") == []


async def test_a_merge_that_dies_after_moving_the_index_leaves_its_resources_located(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(12)
    cid = random_cid(rng)
    charts = store(db)
    records = upload_records(rng, cid, 5)
    point = charts._point

    async def point_then_die(*args: Any) -> bool:
        await point(*args)
        raise ConnectionError("the service died after moving the index")

    monkeypatch.setattr(charts, "_point", point_then_die)
    with pytest.raises(ConnectionError):
        await charts.merge(cid, SOURCE, records, None)
    monkeypatch.undo()
    await charts.merge(cid, SOURCE, records, (await charts.index(cid)).get(SOURCE))  # redelivered
    ref = f"{records[0].type}/{records[0].resource_id}"
    assert await charts.locate(ref) == [(cid, SOURCE)]
