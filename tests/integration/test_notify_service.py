"""The notify service in-process against the real Kafka and database."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from services.notify.app import create_app, database_deps
from services.notify.handlers import Deps, flush_digests
from shared import tokens, topics
from shared.cid import random_cid
from shared.coverage import ConsentState, HospitalState
from shared.database import make_client
from shared.events import (
    ConsentGranted,
    Envelope,
    HospitalRegistered,
    RecordAccessed,
    RecordsReceived,
    VerificationRefused,
    VerificationSucceeded,
)
from shared.kafka_client import ADMIN, client_options
from shared.settings import Settings
from tests.support.clock import Clock
from tests.support.events import access_data, envelope
from tests.support.journey import auth, eventually
from tests.support.settings import TEST_SECRET, settings_for

pytestmark = pytest.mark.integration


CLOCK = Clock()


@pytest.fixture(scope="module")
async def notify(stack_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    slow = settings_for("notify", stack_settings, schedule_tick_s=3600, digest_tick_s=3600)
    db = make_client(slow)[slow.db_name("notify")]
    app = create_app(slow, deps=database_deps(db, slow, clock=CLOCK))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notify") as client:
            yield app, client
    await db.client.close()


@pytest.fixture(scope="module")
async def producer(stack_settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    found = AIOKafkaProducer(**client_options(stack_settings, ADMIN), acks="all")
    await found.start()
    yield found
    await found.stop()


async def send(producer: AIOKafkaProducer, settings: Settings, topic: str, event: Envelope) -> None:
    await producer.send_and_wait(
        topics.named(topic, settings.topic_prefix),
        event.model_dump_json().encode(),
        key=event.subject.encode(),
    )


def access(cid: str, **extra: Any) -> Envelope:
    data = access_data(cid, CLOCK.now.isoformat(), **extra)
    return envelope(RecordAccessed.model_validate(data), cid)


async def inbox(client: httpx.AsyncClient, cid: str, n: int) -> list[dict[str, Any]]:
    token = auth(tokens.issue(TEST_SECRET, tokens.PATIENT, cid, 600))

    async def probe() -> list[dict[str, Any]] | None:
        r = await client.get(f"/patients/{cid}/inbox", headers=token)
        assert r.status_code == 200, r.text
        entries: list[dict[str, Any]] = r.json()["entries"]
        return entries if len(entries) >= n else None

    return await eventually(probe, what=f"{n} inbox entries")


async def hospital_known(settings: Settings, code: str) -> None:
    """Wait until notify's hospital view has ``code`` (it names hospitals in texts)."""
    client = make_client(settings)
    view = client[settings.db_name("notify")].hospital_view
    try:

        async def probe() -> bool:
            return await view.find_one({"_id": code}) is not None

        await eventually(probe, what=f"hospital {code} in notify's view")
    finally:
        await client.close()


async def test_consent_verification_records_and_accesses_are_told_once(
    notify: tuple[FastAPI, httpx.AsyncClient], producer: AIOKafkaProducer, stack_settings: Settings
) -> None:
    _, client = notify
    cid = random_cid(random.Random(21))
    siriraj = HospitalState(code="10670", name="Siriraj", role="provider")
    hospital = envelope(HospitalRegistered(version=1, state=siriraj), "10670")
    granted = ConsentGranted(version=1, state=ConsentState(hospitals=("10670",)))
    consent = envelope(granted, cid)
    now, day = CLOCK.now, CLOCK.now.date().isoformat()
    verified = envelope(VerificationSucceeded(cid=cid, day=day, time=now), cid)
    message = {"th": "...", "en": "..."}
    refused = envelope(VerificationRefused(cid=cid, day=day, time=now, message=message), cid)
    received = RecordsReceived(
        patient=cid, hospital="10670", upload_id="u1", counts={"lab_value": 2},
        resources=2, written=2,
    )  # fmt: skip
    records = envelope(received, cid)
    denied = access(cid, decision="deny")
    read = access(cid, hospital="10670")
    await send(producer, stack_settings, topics.HOSPITAL_EVENTS, hospital)
    await hospital_known(stack_settings, "10670")  # Kafka keeps no order across topics
    for topic, event in [
        (topics.CONSENT_EVENTS, verified),
        (topics.CONSENT_EVENTS, refused),
        (topics.CONSENT_EVENTS, consent),
        (topics.CONSENT_EVENTS, consent),
        (topics.INGEST_RECORDS, records),
        (topics.ACCESS_EVENTS, denied),
        (topics.ACCESS_EVENTS, read),
        (topics.ACCESS_EVENTS, read),
    ]:
        await send(producer, stack_settings, topic, event)
    entries = await inbox(client, cid, 5)
    kinds = sorted(e["kind"] for e in entries)
    assert kinds == [
        "consent-changed",
        "identity-verification",
        "identity-verification",
        "record-accessed",
        "records-received",
    ]
    by_kind = {e["kind"]: e for e in entries}
    assert "Siriraj" in by_kind["consent-changed"]["body_en"]
    assert "Siriraj" in by_kind["record-accessed"]["body_en"]
    assert "เกิน 5 ครั้ง" in " ".join(e["body_th"] for e in entries)


async def test_hourly_digest_and_break_glass_at_once(
    notify: tuple[FastAPI, httpx.AsyncClient], producer: AIOKafkaProducer, stack_settings: Settings
) -> None:
    app, client = notify
    cid = random_cid(random.Random(22))
    token = auth(tokens.issue(TEST_SECRET, tokens.PATIENT, cid, 600))
    r = await client.put(f"/patients/{cid}/preferences", headers=token, json={"accesses": "hourly"})
    assert r.status_code == 200 and r.json()["break_glass"] == "immediate"
    bad = await client.put(f"/patients/{cid}/preferences", headers=token, json={"accesses": "x"})
    assert bad.status_code == 400
    reads = [access(cid), access(cid)]
    glass = access(cid, break_glass=True, break_glass_reason="unconscious in ER")
    for event in [*reads, reads[0], glass]:
        await send(producer, stack_settings, topics.ACCESS_EVENTS, event)
    [urgent] = await inbox(client, cid, 1)
    assert "unconscious in ER" in urgent["body_en"]
    deps: Deps = app.state.deps

    async def parked() -> bool:
        return len(await deps.digests._coll.find({"patient": cid}).to_list()) == 2

    await eventually(parked, what="two accesses parked for the digest")
    assert await flush_digests(deps) == 0  # the hour is not over
    CLOCK.now += timedelta(hours=1)
    assert await flush_digests(deps) >= 1
    await flush_digests(deps)
    entries = await inbox(client, cid, 2)
    digests = [e for e in entries if e["kind"] == "access-digest"]
    assert len(digests) == 1 and "(2 times)" in digests[0]["title_en"]
