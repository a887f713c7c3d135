"""Consent across the running services: revocation enforced on reads; data pulled on join."""

from __future__ import annotations

import json
import random
import time

import pytest
from aiokafka import AIOKafkaConsumer

from shared.kafka_client import ADMIN, client_options
from shared.settings import Settings
from shared.topics import data_requests_topic
from tests.support.journey import OPERATOR, Actors, auth, eventually

pytestmark = pytest.mark.e2e


async def test_a_revocation_takes_effect_on_physician_reads(actors: Actors) -> None:
    rng = random.Random(31)
    source = await actors.hospital("20101", "Source Hospital")
    reader = await actors.hospital("20102", "Reader Hospital", role="consumer")
    doctor = await actors.physician(reader, "31001")
    cid, token = await actors.patient(rng)
    await actors.consent(cid, token, [source.code])

    async def allowed() -> bool:
        return (await actors.everything(doctor, cid)).status_code == 200

    await eventually(allowed, what="the read allowed after consent")
    await actors.revoke(cid, token, source.code)

    async def denied() -> bool:
        return (await actors.everything(doctor, cid)).status_code == 403

    assert await eventually(denied, what="the read denied after revocation")
    r = await actors.http.get(
        actors.url("consent", f"/patients/{cid}/consent/history"), headers=auth(token)
    )
    assert [h["type"].split(".")[-2] for h in r.json()["history"]] == ["granted", "revoked"]


async def data_requests(settings: Settings, wanted: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Read the hospitals' data-request topics (one each) from the beginning until
    ``wanted`` is seen (or 30 s)."""
    consumer = AIOKafkaConsumer(
        *sorted({data_requests_topic(code, settings.topic_prefix) for _, code in wanted}),
        **client_options(settings, ADMIN),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        metadata_max_age_ms=1000,  # a hospital's topic is made by its first request
    )
    await consumer.start()
    seen: set[tuple[str, str]] = set()
    deadline = time.monotonic() + 30
    try:
        while not wanted <= seen and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = json.loads(record.value or b"{}")
                    seen.add((event["data"]["patient"], (record.key or b"").decode()))
    finally:
        await consumer.stop()
    return seen


async def test_all_hospitals_pulls_from_a_provider_that_joins_later(
    actors: Actors, settings: Settings
) -> None:
    rng = random.Random(32)
    cid, token = await actors.patient(rng)
    r = await actors.http.put(
        actors.url("consent", f"/patients/{cid}/consent/all"), headers=auth(token)
    )
    assert r.status_code == 200, r.text
    late = await actors.hospital("20103", "Late Provider")
    upgraded = await actors.hospital("20104", "Consumer First", role="consumer")
    r = await actors.http.patch(
        actors.url("consent", f"/hospitals/{upgraded.code}"),
        headers=OPERATOR,
        json={"role": "provider"},
    )
    assert r.status_code == 200, r.text
    wanted = {(cid, late.code), (cid, upgraded.code)}
    assert wanted <= await data_requests(settings, wanted)
