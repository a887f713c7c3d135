"""The audit HTTP API over the in-memory audit log: who may read what, statuses, FHIR."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle

from services.audit import handlers
from services.audit.app import create_app
from services.audit.fakes import MemoryAuditLog
from services.audit.handlers import Deps
from services.audit.settings import AuditSettings
from shared import tokens
from shared.events import RecordAccessed
from tests.support.credentials import admin_key, know
from tests.support.events import raw

pytestmark = pytest.mark.unit
SECRET = "s"
CID, OTHER = "1100700000001", "3100700000002"
OPERATOR = {"authorization": "Bearer op-token"}
NOW = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def patient(cid: str) -> dict[str, str]:
    return bearer(tokens.issue(SECRET, tokens.PATIENT, cid, 600))


def admin(code: str) -> dict[str, str]:
    return bearer(admin_key(code))


@pytest.fixture
def log_() -> MemoryAuditLog:
    return MemoryAuditLog()


@pytest.fixture
async def client(log_: MemoryAuditLog) -> AsyncIterator[httpx.AsyncClient]:
    settings = AuditSettings(environment="test", token_secret=SECRET, admin_token="op-token")
    deps = Deps(log=log_)
    await know(deps.hospitals, "11535", "10670")
    for minute, (hospital, decision) in enumerate(
        [("11535", "permit"), ("10670", "deny"), ("11535", "deny")]
    ):
        time = (NOW + timedelta(minutes=minute)).isoformat()
        data = {"patient": CID, "physician": "12345", "hospital": hospital,
                "decision": decision, "time": time}  # fmt: skip
        await handlers.record_event(deps, "access", 0, raw(RecordAccessed, CID, data))
    app = create_app(settings, deps=deps)  # the lifespan (broker, database) never starts
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


async def test_a_patient_reads_only_their_own_access_log(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/patients/{CID}/accesses?count=2", headers=patient(CID))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 2 and [e["decision"] for e in body["entries"]] == ["deny", "deny"]
    r = await client.get(f"/patients/{CID}/accesses", headers=patient(OTHER))
    assert r.status_code == 403
    assert (await client.get(f"/patients/{CID}/accesses")).status_code == 401


async def test_a_hospital_admin_searches_only_its_own_hospital(client: httpx.AsyncClient) -> None:
    r = await client.get("/audit/records?hospital=11535", headers=admin("11535"))
    assert r.status_code == 200, r.text
    assert {e["hospital"] for e in r.json()["entries"]} == {"11535"} and r.json()["count"] == 2
    cases = [
        ("/audit/records?hospital=10670", admin("11535"), 403, "not the admin key"),
        ("/audit/records", admin("11535"), 401, "?hospital="),
        ("/fhir/AuditEvent?hospital=10670", admin("11535"), 403, "not the admin key"),
        ("/audit/records?since=yesterday", OPERATOR, 400, "since"),
        ("/audit/records?until=9999-12-31T23:59:59-23:59", OPERATOR, 400, "until"),
        ("/audit/records?count=201", OPERATOR, 400, "count"),
    ]
    for url, headers, status, words in cases:
        r = await client.get(url, headers=headers)
        assert r.status_code == status, (url, r.text)
        assert r.json()["resourceType"] == "OperationOutcome"
        assert words in r.json()["issue"][0]["diagnostics"], r.text


async def test_the_operator_searches_everything_and_exports_fhir(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/audit/records?decision=deny", headers=OPERATOR)
    assert [e["hospital"] for e in r.json()["entries"]] == ["11535", "10670"]
    r = await client.get(f"/fhir/AuditEvent?patient={CID}", headers=OPERATOR)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    Bundle.model_validate(r.json())
    assert [e["resource"]["outcome"] for e in r.json()["entry"]] == ["4", "4", "0"]


async def test_verify_is_for_the_operator_and_names_the_breach(
    client: httpx.AsyncClient, log_: MemoryAuditLog
) -> None:
    assert (await client.get("/audit/verify")).status_code == 401
    r = await client.get("/audit/verify", headers=OPERATOR)
    assert r.json() == {"ok": True, "records": 3, "heads": {}, "unsigned": 3, "breaches": []}
    log_.records["access.p0:000000000001"]["body"]["data"]["decision"] = "permit"
    r = await client.get("/audit/verify", headers=OPERATOR)
    assert r.json()["ok"] is False
    assert [(b["chain"], b["seq"], b["kind"]) for b in r.json()["breaches"]] == [
        ("access.p0", 1, "altered")
    ]
