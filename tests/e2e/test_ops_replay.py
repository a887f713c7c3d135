"""Replay: wipe a service's database, replay its topics, get the same state back."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from healthlink.offsets import ServiceRunning
from healthlink.rebuild import BACKUP_SUFFIX
from healthlink.replay import replay
from healthlink.synthetic import make_patient_bundle
from services.query.chartparts import parts_of, unpack, version_id
from services.query.charts import combine
from shared.database import Document
from shared.indexes.migrate import MIGRATIONS
from shared.settings import SERVICE_PORTS, Settings
from tests.support.journey import OPERATOR, Actors, auth, eventually, uploader
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e
VOLATILE = frozenset({"received_at", "stored_at", "updated_at", "created_at"})  # write times
# State a service keeps itself, not derived from topics, so no replay rebuilds it.
# Audit signs its heads itself (on their own topic too); the rebuilt records hash the same.
OWNED = {"notify": {"announcements"}, "audit": {"heads"}}
# The database's own bookkeeping (which one-off migrations ran, and when): a rebuilt
# database runs them again at a new time, so it is not part of the state compared.
BOOKKEEPING = frozenset({MIGRATIONS})
State = dict[str, dict[Any, Document]]


@pytest.fixture
async def mongo(ops_settings: Settings) -> AsyncIterator[AsyncMongoClient[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(ops_settings.mongo_url, tz_aware=True)
    yield client
    await client.close()


async def snapshot(
    client: AsyncMongoClient[Document], db: str, only: list[str] | None = None
) -> State:
    database = client[db]
    names = only or [
        n
        for n in await database.list_collection_names()
        if BACKUP_SUFFIX not in n and n not in BOOKKEEPING
    ]
    state: State = {}
    for name in sorted(names):
        docs = [d async for d in database[name].find({})]
        state[name] = {d["_id"]: {k: v for k, v in d.items() if k not in VOLATILE} for d in docs}
    return state


def differences(after: State, before: State) -> list[str]:
    """Readable differences (ids and field names only)."""
    found = []
    for name in sorted(set(after) | set(before)):
        a, b = after.get(name, {}), before.get(name, {})
        found += [f"{name}: {k} missing" for k in b.keys() - a.keys()]
        found += [f"{name}: {k} extra" for k in a.keys() - b.keys()]
        for k in a.keys() & b.keys():
            fields = {f for f in a[k].keys() | b[k].keys() if a[k].get(f) != b[k].get(f)}
            if fields:
                found.append(f"{name}: {k} differs in {sorted(fields)}")
    return found


async def busy_platform(ops: Actors, settings: Settings) -> tuple[list[str], str]:
    """Hospitals, patients, consents, uploads (some set aside), reads, a revocation."""
    rng = random.Random(17)
    source = await ops.hospital("10670", "Siriraj Hospital")
    other = await ops.hospital("13781", "Ramathibodi Hospital")
    reader = await ops.hospital("11535", "Chulalongkorn Hospital", role="consumer")
    doctor = await ops.physician(reader, "24680")
    patients = [await ops.patient(rng) for _ in range(3)]
    for cid, token in patients:
        await ops.consent(cid, token, [source.code])
    for hospital in (source, other):
        async with uploader(settings, hospital) as adapter:
            for cid, _ in patients:
                await adapter.send(make_patient_bundle(
                    rng, cid=cid, hospital_code=hospital.code, n_resources=12,
                    sensitive_fraction=0.0,
                ))  # fmt: skip
    for cid, _ in patients:
        await ops.records(doctor, cid)
    cid, token = patients[0]
    await ops.revoke(cid, token, source.code)

    async def denied() -> bool:
        return (await ops.everything(doctor, cid)).status_code == 403

    await eventually(denied, what="read denied after revocation")

    async def audited() -> bool:
        r = await ops.http.get(ops.url("audit", f"/patients/{cid}/accesses"), headers=auth(token))
        return any(e["decision"] == "deny" for e in r.json()["entries"])

    await eventually(audited, timeout_s=60, what="denial audited")
    return [c for c, _ in patients], token


CHART_LAYOUT = {"charts", "chart_index", "resource_locations"}


async def locations_of(database: Any, suffix: str) -> list[tuple[str, str, str]]:
    """Where each resource lives (ref, patient, hospital), whatever documents list it."""
    found = set()
    async for doc in database["resource_locations" + suffix].find({}):
        for ref in doc.get("refs") or [doc["ref"]]:
            found.add((ref, doc["patient"], doc["hospital"]))
    return sorted(found)


async def charts_of(database: Any, suffix: str) -> dict[tuple[str, str], list[tuple[str, ...]]]:
    """Every chart as its entries (type, id, rank, JSON), whatever parts hold them."""
    found: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    async for index in database["chart_index" + suffix].find({}):
        for hospital, listed in index.get("charts", {}).items():
            parts = []
            for part in parts_of(listed):
                doc = await database["charts" + suffix].find_one(
                    {"_id": version_id(index["_id"], hospital, part)}
                )
                assert doc is not None, "a listed chart part is missing"
                parts.append(unpack(bytes(doc["body"])))
            entries = combine(parts)
            assert len(entries) == listed["n"]
            found[(index["_id"], hospital)] = sorted(
                (e["type"], e["id"], e["rank"], e["json"]) for e in entries
            )
    return found


async def settled(ops: Actors, mongo: AsyncMongoClient[Document], settings: Settings) -> None:
    """Wait until no consumer has lag and every database stopped changing."""
    last: dict[str, State] = {}

    async def quiet() -> bool:
        now = {s: await snapshot(mongo, settings.db_name(s)) for s in SERVICE_PORTS}
        for service in SERVICE_PORTS:
            text = (await ops.http.get(ops.url(service, "/metrics"))).text
            lags = [
                line for line in text.splitlines() if line.startswith("healthlink_consumer_lag{")
            ]
            if any(float(line.rsplit(" ", 1)[1]) > 0 for line in lags):
                last.clear()
                return False
        stable = now == last
        last.clear()
        last.update(now)
        return stable

    await eventually(quiet, timeout_s=120, what="the platform to settle")


async def test_replay_rebuilds_every_projection(
    ops: Actors, ops_platform: Platform, ops_settings: Settings, mongo: AsyncMongoClient[Document]
) -> None:
    await busy_platform(ops, ops_settings)
    await settled(ops, mongo, ops_settings)

    with pytest.raises(ServiceRunning):
        await replay(ops_settings, "audit", dry_run=True)

    for service in ("ingest", "audit", "notify"):
        ops_platform.stop(service)
        db = ops_settings.db_name(service)
        before = await snapshot(mongo, db)
        assert any(before.values()), f"{service} has no state to rebuild"
        plan = await replay(ops_settings, service, dry_run=True)
        assert plan.planned > 0 and plan.mode == "dry-run"
        await mongo.drop_database(db)
        report = await replay(ops_settings, service)
        assert report.messages == report.planned
        after = await snapshot(mongo, db)
        for name in OWNED.get(service, ()):
            before.pop(name, None)
        diff = differences(after, before)
        assert diff == [], f"{service} differs after replay: {diff}"
        ops_platform.start(service)
        ops_platform.wait_ready(service)

    # query keeps rosters and licences itself: rebuild its projections into a fresh
    # database, swap them in, and compare each with the collection it replaced.
    ops_platform.stop("query")
    db = ops_settings.db_name("query")
    report = await replay(ops_settings, "query", fresh_db=True)
    assert report.messages == report.planned > 0
    names = [n for n in await mongo[db].list_collection_names() if n.endswith(BACKUP_SUFFIX)]
    assert {"consent_view", "hospital_view"} <= {n.removesuffix(BACKUP_SUFFIX) for n in names}
    for backup in names:
        rebuilt = backup.removesuffix(BACKUP_SUFFIX)
        if rebuilt in CHART_LAYOUT:
            continue  # compared below: how entries are split in parts (and merges) may differ
        assert (await snapshot(mongo, db, [rebuilt]))[rebuilt] == (
            await snapshot(mongo, db, [backup])
        )[backup], f"query.{rebuilt} differs after replay"
    rebuilt_charts = await charts_of(mongo[db], "")
    assert rebuilt_charts, "query has no charts to compare"
    assert rebuilt_charts == await charts_of(mongo[db], BACKUP_SUFFIX), "charts differ"
    located = await locations_of(mongo[db], "")
    assert located, "query located no resources"
    assert located == await locations_of(mongo[db], BACKUP_SUFFIX), "locations differ"
    ops_platform.start("query")
    ops_platform.wait_ready("query")

    r = await ops.http.get(ops.url("audit", "/audit/verify"), headers=OPERATOR)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True, r.text

    # A second replay over live data changes nothing (append-only projections; ingest
    # re-decides consent against today's view: see docs/operations.md).
    for service in ("audit", "notify"):
        ops_platform.stop(service)
        before = await snapshot(mongo, ops_settings.db_name(service))
        await replay(ops_settings, service)
        after = await snapshot(mongo, ops_settings.db_name(service))
        assert differences(after, before) == [], f"{service} changed by a second replay"
        ops_platform.start(service)
        ops_platform.wait_ready(service)
