"""The audit service in-process against the real Kafka and database."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared import tokens, topics
from shared.cid import random_cid
from shared.events import (
    ConsentGranted,
    Envelope,
    HospitalRegistered,
    PhysicianSignedIn,
    RecordAccessed,
)
from shared.kafka_client import ADMIN, client_options
from shared.settings import Settings
from tests.support.credentials import admin_key, credentials_of
from tests.support.events import access_data, raw
from tests.support.inprocess import running
from tests.support.journey import OPERATOR, auth, eventually
from tests.support.settings import TEST_SECRET

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def audit(stack_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running("audit", stack_settings) as (_, client):
        yield client


@pytest.fixture(scope="module")
async def producer(stack_settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    found = AIOKafkaProducer(
        **client_options(stack_settings, ADMIN), acks="all", enable_idempotence=True
    )
    await found.start()
    yield found
    await found.stop()


async def send(
    producer: AIOKafkaProducer,
    settings: Settings,
    topic: str,
    event: Envelope | bytes,
    headers: dict[str, str] | None = None,
    key: bytes = b"k",
) -> None:
    value = event if isinstance(event, bytes) else event.model_dump_json().encode()
    await producer.send_and_wait(
        topics.named(topic, settings.topic_prefix),
        value,
        key=key,
        headers=[(k, v.encode()) for k, v in (headers or {}).items()],
    )


def access(cid: str, decision: str, **extra: Any) -> Envelope:
    permit = decision == "permit"
    data = access_data(
        cid,
        datetime.now(UTC).isoformat(),
        decision=decision,
        reason="consent" if permit else "patient has not consented",
        categories=["lab_value"] if permit else [],
        sources=[],
        count=3 if permit else 0,
        hidden=0,
        break_glass_reason=None,
        correlation_id="c",
        endpoint="$everything",
    )
    return raw(RecordAccessed, cid, {**data, **extra})


def patient_token(cid: str) -> dict[str, str]:
    return auth(tokens.issue(TEST_SECRET, tokens.PATIENT, cid, 600))


async def accesses(audit: httpx.AsyncClient, cid: str, n: int) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        r = await audit.get(f"/patients/{cid}/accesses", headers=patient_token(cid))
        assert r.status_code == 200, r.text
        entries: list[dict[str, Any]] = r.json()["entries"]
        return entries if len(entries) >= n else None

    return await eventually(probe, what=f"{n} audit entries")


async def test_redelivered_access_event_is_stored_once(
    audit: httpx.AsyncClient, producer: AIOKafkaProducer, stack_settings: Settings
) -> None:
    cid = random_cid(random.Random(1))
    first, denied = access(cid, "permit"), access(cid, "deny")
    for event in (first, first, denied, first):
        await send(producer, stack_settings, topics.ACCESS_EVENTS, event, key=cid.encode())
    marker = access(cid, "permit", break_glass=True, break_glass_reason="unconscious")
    await send(producer, stack_settings, topics.ACCESS_EVENTS, marker, key=cid.encode())
    entries = await accesses(audit, cid, 3)
    assert sorted(e["id"] for e in entries) == sorted([first.id, denied.id, marker.id])
    assert entries[0]["id"] == marker.id  # newest first
    newest = entries[0]
    assert newest["break_glass"] and newest["break_glass_reason"] == "unconscious"
    assert newest["physician_name"] == "นพ. ทดสอบ" and newest["categories"] == ["lab_value"]
    assert {e["decision"] for e in entries} == {"permit", "deny"}
    paged = await audit.get(
        f"/patients/{cid}/accesses?offset=1&count=1", headers=patient_token(cid)
    )
    assert [e["id"] for e in paged.json()["entries"]] == [entries[1]["id"]]
    other = random_cid(random.Random(2))
    r = await audit.get(f"/patients/{cid}/accesses", headers=patient_token(other))
    assert r.status_code == 403
    verified = await audit.get("/audit/verify", headers=OPERATOR)
    assert verified.json()["ok"] and verified.json()["breaches"] == []


async def test_every_security_topic_and_dead_letters_are_chained(
    audit: httpx.AsyncClient, producer: AIOKafkaProducer, stack_settings: Settings
) -> None:
    now = datetime.now(UTC).isoformat()
    signed_in = raw(
        PhysicianSignedIn, "54321", {"physician": "54321", "hospital": "10670", "time": now}
    )
    consent = raw(ConsentGranted, "1100700000001", {"version": 1, "state": {"all_hospitals": True}})
    hospital = raw(
        HospitalRegistered,
        "10670",
        {"version": 1, "state": {"code": "10670", "name": "Siriraj", "role": "provider"}},
    )
    await send(producer, stack_settings, topics.SECURITY_EVENTS, signed_in)
    await send(producer, stack_settings, topics.CONSENT_EVENTS, consent)
    await send(producer, stack_settings, topics.HOSPITAL_EVENTS, hospital)
    await send(producer, stack_settings, topics.ACCESS_EVENTS, b"not an envelope")
    letter = {
        "hl-dlq-id": "dlq-1",
        "hl-dlq-reason": "bad-signature",
        "hl-hospital": "10670",
        "hl-dlq-topic": topics.INGEST_UPLOADS,
        "hl-signature": "sha256=secret",
    }
    for _ in range(2):
        await send(producer, stack_settings, topics.DEAD_LETTERS, b"{clinical}", headers=letter)

    async def kinds() -> dict[str, int] | None:
        r = await audit.get("/audit/records?count=200", headers=OPERATOR)
        found: dict[str, int] = {}
        for e in r.json()["entries"]:
            found[e["kind"]] = found.get(e["kind"], 0) + 1
        want = {"security", "consent", "hospital", "deadletter"}
        return found if want <= set(found) and found["deadletter"] >= 2 else None

    found = await eventually(kinds, what="records of every kind")
    assert found["deadletter"] == 2  # the test's letter once, the malformed event's once
    r = await audit.get("/audit/records?kind=deadletter", headers=OPERATOR)
    bodies = [e["body"] for e in r.json()["entries"]]
    ours = next(b for b in bodies if b["id"] == "dlq-1")
    assert "hl-signature" not in ours["headers"] and ours["bytes"] == len(b"{clinical}")
    assert "clinical" not in str(bodies)
    chains = {
        e["chain"].split(".")[0]
        for e in (await audit.get("/audit/records?count=200", headers=OPERATOR)).json()["entries"]
    }
    assert chains >= {"security", "consent", "hospital", "deadletter"}
    assert (await audit.get("/audit/verify", headers=OPERATOR)).json()["ok"]


async def test_search_is_scoped_and_exported_as_balp_audit_events(
    audit: httpx.AsyncClient, producer: AIOKafkaProducer, stack_settings: Settings
) -> None:
    cid = random_cid(random.Random(3))
    ours = access(cid, "deny")
    theirs = access(cid, "permit", hospital="10670", physician="777")
    for event in (ours, theirs):
        await send(producer, stack_settings, topics.ACCESS_EVENTS, event)
    await accesses(audit, cid, 2)
    state = {"code": "11535", "name": "Chula", "role": "consumer", **credentials_of("11535")}
    joined = raw(HospitalRegistered, "11535", {"version": 1, "state": state})
    await send(producer, stack_settings, topics.HOSPITAL_EVENTS, joined)
    admin = auth(admin_key("11535"))

    async def known() -> httpx.Response | None:  # audit keeps the hospital from its event
        r = await audit.get(f"/audit/records?patient={cid}&hospital=11535", headers=admin)
        return r if r.status_code == 200 else None

    r = await eventually(known, what="the hospital's admin key known to audit")
    assert [e["id"] for e in r.json()["entries"]] == [ours.id]
    r = await audit.get(f"/audit/records?patient={cid}&hospital=10670", headers=admin)
    assert r.status_code == 403
    assert (await audit.get(f"/audit/records?patient={cid}", headers=admin)).status_code == 401
    r = await audit.get(f"/audit/records?patient={cid}&physician=777", headers=OPERATOR)
    assert [e["id"] for e in r.json()["entries"]] == [theirs.id]
    r = await audit.get(f"/audit/records?patient={cid}&decision=deny", headers=OPERATOR)
    assert [e["id"] for e in r.json()["entries"]] == [ours.id]
    r = await audit.get(
        f"/audit/records?patient={cid}&since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z",
        headers=OPERATOR,
    )
    assert r.json()["entries"] == []
    assert (await audit.get("/audit/records?since=yesterday", headers=OPERATOR)).status_code == 400
    r = await audit.get(f"/fhir/AuditEvent?patient={cid}", headers=OPERATOR)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    events = [e["resource"] for e in r.json()["entry"]]
    assert {e["outcome"] for e in events} == {"0", "4"}
    from fhir.resources.R4B.auditevent import AuditEvent

    for event in events:
        AuditEvent.model_validate(event)
        assert event["entity"][0]["what"]["identifier"]["value"] == cid
