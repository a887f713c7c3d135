"""The query service against the real Kafka and database: every access rule, every request audited.

State reaches the service the way it does in production: hospital and consent
events on their topics, stored records announced by ``records.stored`` events
built with the ingest service's own functions (``to_documents``,
``stored_events``), since ingest is outside this service's context.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from healthlink.synthetic import make_patient_bundle
from services.ingest.bundle import parse_bundle
from services.ingest.documents import stored_events, to_documents
from services.query.handlers import Deps
from shared import tokens, topics
from shared.broker import Publisher, make_broker
from shared.cid import random_cid
from shared.events import ConsentChanged, ConsentGranted, HospitalChanged, HospitalRegistered
from shared.kafka_client import ADMIN
from shared.logging import CORRELATION_HEADER
from shared.settings import Settings
from tests.support.credentials import admin_key, credentials_of
from tests.support.events import envelope
from tests.support.inprocess import running
from tests.support.journey import eventually
from tests.support.kafka import read_events
from tests.support.searchsets import limits_of, records_of
from tests.support.settings import TEST_ADMIN

pytestmark = pytest.mark.integration

SOURCE_A, SOURCE_B, READER, VISIT_READER = "10670", "13781", "11535", "10669"
OPERATOR = {"authorization": f"Bearer {TEST_ADMIN}"}


@dataclass
class World:
    settings: Settings
    client: httpx.AsyncClient
    deps: Deps
    publisher: Publisher
    versions: dict[str, int]
    rng: random.Random

    async def publish_state(
        self, kind: type[ConsentChanged] | type[HospitalChanged], subject: str, state: Any
    ) -> None:
        self.versions[subject] = self.versions.get(subject, 0) + 1
        payload = kind.model_validate({"version": self.versions[subject], "state": state})
        await self.publisher.publish(kind.TOPIC, envelope(payload, subject))

    async def hospital(self, code: str, mode: str = "standing", role: str = "provider") -> None:
        state = {
            "code": code,
            "name": f"H{code}",
            "role": role,
            "consent_mode": mode,
            "active": True,
            **credentials_of(code),
        }
        await self.publish_state(HospitalRegistered, code, state)
        await eventually(lambda: self.deps.view.hospital(code), what="hospital projected")

    async def consent(self, cid: str, **state: Any) -> None:
        full = {"all_hospitals": False, "hospitals": [], "allow_sensitive": False, "per_visit": []}
        full.update(state)
        await self.publish_state(ConsentGranted, cid, full)
        version = self.versions[cid]

        async def applied() -> bool:
            view = await self.deps.view.consent(cid)
            return view is not None and view.version >= version

        await eventually(applied, what="consent projected")

    async def records(self, cid: str, source: str, n: int, sensitive: float = 0.0) -> None:
        bundle = make_patient_bundle(
            self.rng, cid=cid, hospital_code=source, n_resources=n, sensitive_fraction=sensitive
        )
        parsed = parse_bundle(json.dumps(bundle).encode(), max_bytes=10_000_000)
        docs = to_documents(parsed, source, uuid.uuid4().hex, datetime.now(UTC)).docs
        for event in stored_events(cid, source, uuid.uuid4().hex, docs):
            await self.publisher.publish(topics.INGEST_STORED, event)

        async def charted() -> bool:
            index = await self.deps.charts.index(cid)
            return index.get(source, {}).get("n") == len(docs)

        await eventually(charted, what="chart rebuilt")

    async def physician(self, licence: str, hospital: str, pin: str = "4321") -> str:
        r = await self.client.post(
            "/registry/licences",
            headers=OPERATOR,
            json={"licence": licence, "name": "Dr T", "pin": pin},
        )
        assert r.status_code == 201, r.text
        admin = admin_key(hospital)
        r = await self.client.post(
            f"/hospitals/{hospital}/physicians", headers=bearer(admin), json={"licence": licence}
        )
        assert r.status_code == 201, r.text
        r = await self.client.post(
            "/auth/token", json={"licence": licence, "pin": pin, "hospital": hospital}
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def cid(self) -> str:
        return random_cid(self.rng)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    broker = make_broker(settings, "query-test", principal=ADMIN)
    await broker.start()
    try:
        async with running("query", settings) as (app, client):
            deps: Deps = app.state.deps
            w = World(
                settings,
                client,
                deps,
                Publisher(broker, settings),
                {},
                random.Random(uuid.uuid4().int),
            )
            for code in (SOURCE_A, SOURCE_B, READER):
                await w.hospital(code)
            await w.hospital(VISIT_READER, mode="per-visit", role="consumer")
            yield w
    finally:
        await broker.stop()


async def read_topic(settings: Settings, topic: str, at_least: int) -> list[dict[str, Any]]:
    """Every event of ``topic``: at least ``at_least``, and any more that came with them."""
    return [event for _, event in await read_events(settings, topic, at_least, drain=True)]


def sources_of(body: dict[str, Any]) -> set[str]:
    return {e["resource"]["meta"]["source"].rsplit(":", 1)[1] for e in records_of(body)}


async def test_no_consent_is_denied_and_non_consented_source_never_returned(world: World) -> None:
    doctor = await world.physician("20001", READER)
    cid = world.cid()
    r = await world.client.get(f"/fhir/Patient/{cid}/$everything", headers=bearer(doctor))
    assert r.status_code == 403 and r.json()["resourceType"] == "OperationOutcome"

    await world.consent(cid, hospitals=[SOURCE_A])
    await world.records(cid, SOURCE_A, 12)
    await world.records(cid, SOURCE_B, 12)  # stored, e.g. before a revocation
    r = await world.client.get(
        f"/fhir/Patient/{cid}/$everything?_count=1000", headers=bearer(doctor)
    )
    assert r.status_code == 200 and sources_of(r.json()) == {SOURCE_A}
    r = await world.client.get(f"/fhir/Condition?patient={cid}", headers=bearer(doctor))
    assert r.status_code == 200 and sources_of(r.json()) <= {SOURCE_A}
    r = await world.client.get(f"/patients/{cid}/summary", headers=bearer(doctor))
    assert [s["hospital"] for s in r.json()["sources"]] == [SOURCE_A]

    await world.consent(cid, hospitals=[])  # revoked
    r = await world.client.get(f"/fhir/Patient/{cid}/$everything", headers=bearer(doctor))
    assert r.status_code == 403


async def test_per_visit_consent_live_expired_revoked(world: World) -> None:
    doctor = await world.physician("20002", VISIT_READER)
    cid = world.cid()
    await world.records(cid, SOURCE_A, 10)
    until = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    visit = {
        "id": "v1",
        "requesting_hospital": VISIT_READER,
        "sources": [SOURCE_A],
        "until": until,
        "revoked": False,
    }
    await world.consent(cid, hospitals=[SOURCE_B], per_visit=[visit])
    url = f"/fhir/Patient/{cid}/$everything"
    r = await world.client.get(url, headers=bearer(doctor))
    assert r.status_code == 200 and sources_of(r.json()) == {SOURCE_A}
    # the Bundle says the read is under a per-visit consent, and until when
    assert limits_of(r.json()) == ["per-visit-only", "sensitive-not-shared"]
    (outcome,) = [e for e in r.json()["entry"] if e["search"]["mode"] == "outcome"]
    said = outcome["resource"]["issue"][0]
    assert said["extension"][0]["valueDateTime"] == until[:19] + "Z", said

    expired = {**visit, "until": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}
    await world.consent(cid, hospitals=[SOURCE_A], per_visit=[expired])
    r = await world.client.get(url, headers=bearer(doctor))
    assert r.status_code == 403, "a per-visit hospital never reads under standing consent"

    await world.consent(cid, hospitals=[SOURCE_A], per_visit=[{**visit, "revoked": True}])
    assert (await world.client.get(url, headers=bearer(doctor))).status_code == 403


async def test_roster_removal_applies_to_the_next_request(world: World) -> None:
    doctor = await world.physician("20003", READER)
    cid = world.cid()
    await world.consent(cid, all_hospitals=True)
    url = f"/fhir/Patient/{cid}/$everything"
    assert (await world.client.get(url, headers=bearer(doctor))).status_code == 200
    admin = admin_key(READER)
    r = await world.client.delete(f"/hospitals/{READER}/physicians/20003", headers=bearer(admin))
    assert r.status_code == 200 and "20003" not in r.json()["physicians"]
    r = await world.client.get(url, headers=bearer(doctor))
    assert r.status_code == 403 and "roster" in r.text


async def test_sensitive_hidden_unless_allowed_or_break_glass(world: World) -> None:
    doctor = await world.physician("20004", READER)
    cid = world.cid()
    await world.consent(cid, hospitals=[SOURCE_A])
    await world.records(cid, SOURCE_A, 40, sensitive=0.5)
    url = f"/fhir/Patient/{cid}/$everything?_count=1000"

    def labelled(body: dict[str, Any]) -> int:
        return sum(bool(e["resource"].get("meta", {}).get("security")) for e in body["entry"])

    hidden = (await world.client.get(url, headers=bearer(doctor))).json()
    assert labelled(hidden) == 0
    assert limits_of(hidden) == ["chosen-hospitals", "sensitive-not-shared"]  # not a count
    r = await world.client.post(
        f"/patients/{cid}/break-glass",
        headers=bearer(doctor),
        json={"reason": "unconscious in ER, suspected overdose"},
    )
    assert r.status_code == 201, r.text
    shown = (await world.client.get(url, headers=bearer(doctor))).json()
    assert labelled(shown) > 0 and shown["total"] > hidden["total"]
    assert limits_of(shown) == ["break-glass", "chosen-hospitals"]
    assert len(records_of(shown)) == shown["total"]  # the total counts records only

    events = await read_topic(world.settings, topics.ACCESS_EVENTS, at_least=3)
    mine = [e["data"] for e in events if e["subject"] == cid]
    assert [d["break_glass"] for d in mine] == [False, True, True]
    assert mine[-1]["purpose"] == "ETREAT" and mine[-1]["break_glass_reason"]
    security = await read_topic(world.settings, topics.SECURITY_EVENTS, at_least=1)
    declared = [e for e in security if e["type"].endswith("break_glass_declared.v1")]
    assert declared and declared[0]["data"]["patient"] == cid


async def test_tampered_token_and_other_hospital_refused(world: World) -> None:
    doctor = await world.physician("20005", READER)
    cid = world.cid()
    await world.consent(cid, all_hospitals=True)
    url = f"/fhir/Patient/{cid}/$everything"
    payload, mac = doctor.split(".")
    claims = json.loads(tokens._unb64(payload))
    claims["hospital"] = SOURCE_A
    forged = tokens._b64(json.dumps(claims).encode()) + "." + mac
    assert (await world.client.get(url, headers=bearer(forged))).status_code == 401
    assert (await world.client.get(url, headers=bearer(doctor[:-2] + "xx"))).status_code == 401
    r = await world.client.post(
        "/auth/token", json={"licence": "20005", "pin": "4321", "hospital": SOURCE_A}
    )
    assert r.status_code == 403, "not on that hospital's roster"
    admin_b = admin_key(SOURCE_B)
    r = await world.client.post(
        f"/hospitals/{SOURCE_A}/physicians", headers=bearer(admin_b), json={"licence": "20005"}
    )
    assert r.status_code == 401, "one hospital's staff cannot edit another's roster"


async def test_lockout_after_repeated_failures(world: World) -> None:
    await world.physician("20006", READER)
    wrong = {"licence": "20006", "pin": "0000", "hospital": READER}
    for _ in range(world.deps.settings.max_sign_in_failures):
        assert (await world.client.post("/auth/token", json=wrong)).status_code == 401
    right = {**wrong, "pin": "4321"}
    r = await world.client.post("/auth/token", json=right)
    assert r.status_code == 429 and r.json()["issue"][0]["code"] == "throttled"
    security = await read_topic(world.settings, topics.SECURITY_EVENTS, at_least=8)
    names = [e["type"].removeprefix("th.healthlink.").rsplit(".v", 1)[0] for e in security]
    assert names.count("physician.locked_out") == 1
    assert "physician.signed_in" in names and "roster.physician_added" in names


async def test_every_request_publishes_exactly_one_access_event(world: World) -> None:
    doctor = await world.physician("20007", READER)
    cid = world.cid()
    await world.consent(cid, hospitals=[SOURCE_A])
    await world.records(cid, SOURCE_A, 10)
    requests = [
        (f"/fhir/Patient/{cid}/$everything", doctor, 200),
        (f"/fhir/Observation?patient={cid}&date=ge2000-01-01&_sort=-date", doctor, 200),
        (f"/patients/{cid}/summary", doctor, 200),
        ("/fhir/Patient/1234567890123/$everything", doctor, 400),  # malformed CID
        (f"/fhir/Condition?patient={cid}&colour=red", doctor, 400),  # unknown, strict (below)
        (f"/fhir/Condition?patient={cid}&date=yesterday", doctor, 400),  # bad date
        (f"/fhir/Patient/{cid}/$everything?_count=5000", doctor, 400),  # _count out of range
        (f"/fhir/Patient/{cid}/$everything", "", 401),
        (f"/fhir/Patient/{cid}/$everything", "not.a-token", 401),
        (f"/fhir/Patient/{world.cid()}/$everything", doctor, 403),  # no consent
    ]
    ids, anonymous = [], []
    for url, token, status in requests:
        correlation = uuid.uuid4().hex
        headers = {CORRELATION_HEADER: correlation, **(bearer(token) if token else {})}
        headers["prefer"] = "handling=strict"  # unknown parameters refused, not ignored
        r = await world.client.get(url, headers=headers)
        assert r.status_code == status, (url, r.text)
        if status >= 400:
            assert r.json()["resourceType"] == "OperationOutcome"
        # A request without a valid token is no one's access: refused, not in the log.
        (anonymous if status == 401 else ids).append(correlation)
    events = await read_topic(world.settings, topics.ACCESS_EVENTS, at_least=len(ids))
    by_id = [e["data"]["correlation_id"] for e in events]
    assert all(by_id.count(c) == 1 for c in ids), by_id
    assert not any(c in by_id for c in anonymous), "unauthenticated reads were logged"
    decisions = [
        next(e["data"]["decision"] for e in events if e["data"]["correlation_id"] == c) for c in ids
    ]
    assert decisions == ["permit"] * 3 + ["deny"] * 5


async def test_a_read_after_records_are_stored_returns_them_all(world: World) -> None:
    """Read your writes: the records' parts are acknowledged by the broker (as ingest
    waits for before announcing ``records.received``), then the physician reads at once,
    without waiting for the projector; every round's read holds every record so far."""
    doctor = await world.physician("20009", READER)
    cid = world.cid()
    await world.consent(cid, hospitals=[SOURCE_A])
    total = 0
    for _ in range(3):
        bundle = make_patient_bundle(
            world.rng, cid=cid, hospital_code=SOURCE_A, n_resources=300, sensitive_fraction=0.0
        )
        parsed = parse_bundle(json.dumps(bundle).encode(), max_bytes=10_000_000)
        docs = to_documents(parsed, SOURCE_A, uuid.uuid4().hex, datetime.now(UTC)).docs
        for event in stored_events(cid, SOURCE_A, uuid.uuid4().hex, docs):
            await world.publisher.publish(topics.INGEST_STORED, event)
        total += len(docs)

        async def read() -> httpx.Response | None:
            r = await world.client.get(
                f"/fhir/Patient/{cid}/$everything?_count=1", headers=bearer(doctor)
            )
            if r.status_code == 503:  # charts still behind after the read's wait: retry, as
                assert "behind" in r.text and r.headers["retry-after"], r.text  # a client does
                return None
            return r

        # On a loaded machine the chart projector (a child process, nice 10) may start
        # consuming later than the read's 10 s wait; never a read short of the writes.
        r = await eventually(read, timeout_s=90, what="a read that is not behind")
        assert r.status_code == 200, r.text
        assert r.json()["total"] == total
