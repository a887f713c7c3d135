"""The portal through its composition root, on a fake query service (docs/portal.md)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.portal.app import CSP, create_app
from services.portal.domain import describe, group_record, language_of
from services.portal.handlers import Deps
from services.portal.repository import MemorySessions
from services.portal.settings import PortalSettings
from services.portal.viewer_views import record_views
from shared.fhir import LIMIT_SYSTEM, LIMIT_UNTIL_URL
from tests.support.portal_fakes import CONSENTED, NOT_CONSENTED, FakeQuery, FakeSmartApp

pytestmark = pytest.mark.unit
WEB = Path(__file__).resolve().parents[2] / "services" / "portal" / "web"
BASE = "http://portal.test"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def query() -> FakeQuery:
    return FakeQuery()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def smart(query: FakeQuery) -> FakeSmartApp:
    return FakeSmartApp(query)


@pytest.fixture
async def client(
    query: FakeQuery, smart: FakeSmartApp, clock: Clock
) -> AsyncIterator[httpx.AsyncClient]:
    deps = Deps(
        sessions=MemorySessions(clock),
        pending=MemorySessions(clock),
        query=query,
        smart=smart,
        session_ttl_s=600,
        clock=clock,
    )
    app = create_app(PortalSettings(environment="test"), deps=deps)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


async def page_csrf(client: httpx.AsyncClient) -> str:
    r = await client.get("/api/session")
    assert r.status_code == 200
    csrf: str = r.json()["csrf"]
    return csrf


async def signed_in(client: httpx.AsyncClient, smart: FakeSmartApp) -> str:
    """The physician signs in at the (fake) auth service; returns the session's CSRF."""
    r = await client.get("/signin")
    assert r.status_code == 303, r.text
    state = smart.requests[-1]["state"]
    r = await client.get("/callback", params={"state": state, "code": smart.approve()})
    assert r.status_code == 303 and r.headers["location"] == "/", r.headers
    r = await client.get("/api/session")
    assert r.json()["signed_in"], r.text
    csrf: str = r.json()["csrf"]
    return csrf


async def test_the_page_and_its_files_are_served_under_a_strict_csp(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CSP
    assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP
    assert "<script>" not in r.text and not re.search(r"\son[a-z]+=", r.text)  # no inline code
    assert r.headers["x-frame-options"] == "DENY"
    for path in ("/static/app.js", "/static/app.css", "/i18n/th.json", "/i18n/en.json"):
        assert (await client.get(path)).status_code == 200, path


def test_both_catalogues_have_the_same_keys_and_every_key_the_page_uses() -> None:
    th = json.loads((WEB / "i18n" / "th.json").read_text())
    en = json.loads((WEB / "i18n" / "en.json").read_text())
    assert set(th) == set(en)
    html = (WEB / "index.html").read_text()
    used = {part.split('"')[1] for part in html.split("data-i18n=")[1:]}
    assert used <= set(th)
    assert th["type.AllergyIntolerance"] == "ข้อมูลการแพ้ยา"  # the FAQ's words
    assert all(th[k] != en[k] for k in th if k.startswith("type."))


async def test_cookies_are_secure_over_https(query: FakeQuery) -> None:
    deps = Deps(sessions=MemorySessions(), query=query, smart=FakeSmartApp(query))
    app = create_app(PortalSettings(environment="test"), deps=deps)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://portal.test") as c:
        r = await c.get("/api/session")
    assert "secure" in r.headers["set-cookie"].lower()


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-csrf-token": "forged"}, {"origin": "https://evil.example"}],
    ids=["no-token", "wrong-token", "other-origin"],
)
async def test_posts_without_the_page_s_csrf_token_or_from_elsewhere_are_refused(
    client: httpx.AsyncClient, headers: dict[str, str], smart: FakeSmartApp
) -> None:
    csrf = await page_csrf(client)
    if "origin" in headers:
        headers = {**headers, "x-csrf-token": csrf}
    r = await client.post("/api/language", json={"lang": "en"}, headers=headers)
    assert r.status_code == 403 and r.json()["error"] == "csrf"
    token = await signed_in(client, smart)
    r = await client.post("/api/session/end", headers={k: v for k, v in headers.items()})
    assert r.status_code == 403
    assert (await client.get("/api/session")).json()["signed_in"]
    r = await client.post("/api/session/end", headers={"x-csrf-token": token, "origin": BASE})
    assert r.status_code == 200


async def test_the_record_is_grouped_by_type_allergies_first_latest_first(
    client: httpx.AsyncClient, query: FakeQuery, smart: FakeSmartApp
) -> None:
    await signed_in(client, smart)
    r = await client.get(f"/api/patients/{CONSENTED}/record")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cid"] == CONSENTED and body["total"] == 5
    types = [g["type"] for g in body["groups"]]
    assert types == ["AllergyIntolerance", "Condition", "Observation", "Encounter"]
    observations = body["groups"][2]["entries"]
    assert [e["value"] for e in observations] == ["6.8 %", "7.2 %"]
    assert all(e["hospital"] == "10670" for g in body["groups"] for e in g["entries"])
    assert body["groups"][0]["entries"][0]["what"] == "Penicillin"
    assert query.reads == [("smart-token-0", CONSENTED)]


async def test_a_refused_read_shows_the_query_service_s_reason(
    client: httpx.AsyncClient, smart: FakeSmartApp
) -> None:
    await signed_in(client, smart)
    r = await client.get(f"/api/patients/{NOT_CONSENTED}/record")
    assert r.status_code == 403
    assert r.json() == {
        "error": "refused",
        "detail": "patient has not consented",
        "reason": "no-consent",
    }


async def test_a_cid_with_a_wrong_check_digit_never_reaches_the_query_service(
    client: httpx.AsyncClient, query: FakeQuery, smart: FakeSmartApp
) -> None:
    await signed_in(client, smart)
    r = await client.get("/api/patients/1101700230709/record")
    assert r.status_code == 400 and r.json()["error"] == "invalid-cid"
    assert query.reads == []


async def test_reads_need_a_session_and_sign_out_ends_it(
    client: httpx.AsyncClient, query: FakeQuery, smart: FakeSmartApp
) -> None:
    r = await client.get(f"/api/patients/{CONSENTED}/record")
    assert r.status_code == 401 and r.json()["error"] == "signed-out"
    csrf = await signed_in(client, smart)
    r = await client.post("/api/session/end", headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and not r.json()["signed_in"]
    r = await client.get(f"/api/patients/{CONSENTED}/record")
    assert r.status_code == 401
    assert query.reads == []


async def test_a_session_ends_with_its_lifetime(
    client: httpx.AsyncClient, clock: Clock, smart: FakeSmartApp
) -> None:
    await signed_in(client, smart)
    clock.now += 601
    r = await client.get(f"/api/patients/{CONSENTED}/record")
    assert r.status_code == 401


async def test_an_expired_query_token_signs_the_physician_out(
    client: httpx.AsyncClient, query: FakeQuery, smart: FakeSmartApp
) -> None:
    await signed_in(client, smart)
    query.tokens.clear()
    assert (await client.get(f"/api/patients/{CONSENTED}/record")).status_code == 401
    assert not (await client.get("/api/session")).json()["signed_in"]


async def test_the_language_is_chosen_then_remembered(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/session", headers={"accept-language": "en-US,en;q=0.9,th;q=0.5"})
    assert r.json()["lang"] == "en"
    csrf = r.json()["csrf"]
    r = await client.post("/api/language", json={"lang": "th"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 200
    r = await client.get("/api/session", headers={"accept-language": "en"})
    assert r.json()["lang"] == "th"
    r = await client.post("/api/language", json={"lang": "fr"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("cookie", "header", "lang"),
    [
        (None, None, "th"),
        (None, "fr-FR, en;q=0.4", "en"),
        (None, "en;q=0.3, th;q=0.8", "th"),
        (None, "en;q=0", "th"),
        ("en", "th", "en"),
        ("xx", "en-GB", "en"),
    ],
)
def test_language_negotiation(cookie: str | None, header: str | None, lang: str) -> None:
    assert language_of(cookie, header) == lang


def test_descriptions_of_each_kind() -> None:
    med = describe(
        {
            "resourceType": "MedicationDispense",
            "medicationCodeableConcept": {"text": "Lisinopril 10 mg tab"},
            "whenHandedOver": "2025-01-01",
            "meta": {"source": "urn:healthlink:hospital:13781"},
        }
    )
    assert (med["what"], med["date"], med["hospital"]) == (
        "Lisinopril 10 mg tab",
        "2025-01-01",
        "13781",
    )
    proc = describe(
        {
            "resourceType": "Procedure",
            "code": {"text": "ผ่าตัดไส้ติ่ง"},
            "performedPeriod": {"start": "2023-02-19"},
        }
    )
    assert (proc["what"], proc["date"]) == ("ผ่าตัดไส้ติ่ง", "2023-02-19")
    assert group_record(
        {"entry": [{"resource": "not a resource"}], "link": [{"relation": "next"}]}
    ) == {
        "total": 0,
        "more": True,
        "groups": [],
    }


async def test_the_record_carries_the_allergy_banner_lab_trends_counts_and_visits(
    client: httpx.AsyncClient, smart: FakeSmartApp
) -> None:
    await signed_in(client, smart)
    body = (await client.get(f"/api/patients/{CONSENTED}/record")).json()
    assert body["allergies"] == [
        {
            "substance": "Penicillin",
            "reactions": ["Anaphylaxis"],
            "criticality": "high",
            "date": "2020-02-02",
            "hospital": "10670",
        }
    ]
    [hba1c] = body["labs"]
    assert (hba1c["code"], hba1c["unit"]) == ("4548-4", "%")
    assert [p["value"] for p in hba1c["points"]] == [7.2, 6.8]  # oldest first
    assert (hba1c["points"][0]["low"], hba1c["points"][0]["high"]) == (4.0, 5.6)
    assert {c["type"]: c["n"] for c in body["by_type"]}["Observation"] == 2
    assert body["by_hospital"] == [{"hospital": "10670", "n": 5}]  # not the outcome entry
    assert body["limits"] == [
        {"code": "chosen-hospitals", "until": "", "text": "limit chosen-hospitals"},
        {"code": "sensitive-not-shared", "until": "", "text": "limit sensitive-not-shared"},
    ]
    assert body["visits"] == [
        {
            "date": "2025-06-10T08:00:00+07:00",
            "type": "ผู้ป่วยนอก",
            "class": "ambulatory",
            "code": "AMB",
            "hospital": "10670",
        }
    ]


def test_no_allergies_and_labs_without_a_loinc_code_or_a_number_are_left_out() -> None:
    bundle = {
        "entry": [
            {"resource": {"resourceType": "Observation", "code": {"text": "BP"},
                          "valueQuantity": {"value": 120}, "effectiveDateTime": "2025-01-01"}},
            {"resource": {"resourceType": "Observation",
                          "code": {"coding": [{"system": "http://loinc.org", "code": "1"}]},
                          "valueQuantity": {"value": "high"}, "effectiveDateTime": "2025-01-01"}},
        ]
    }  # fmt: skip
    views = record_views(bundle)
    assert views["allergies"] == [] and views["labs"] == [] and views["visits"] == []


def test_the_limits_are_read_from_the_outcome_entry_only() -> None:
    """Only issues of Health Link's limit system, with their end; the outcome entry is
    never a record (with or without its search mode)."""
    until = {"url": LIMIT_UNTIL_URL, "valueDateTime": "2026-12-01T10:00:00Z"}
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "warning", "code": "not-supported", "diagnostics": "ignored: x"},
            {"severity": "information", "code": "informational", "extension": [until],
             "details": {"coding": [{"system": LIMIT_SYSTEM, "code": "per-visit-only"}]},
             "diagnostics": "per visit"},
            {"severity": "information", "code": "informational",
             "details": {"coding": [{"system": "http://elsewhere", "code": "x"}]}},
            "not an issue",
        ],
    }  # fmt: skip
    condition = {"resourceType": "Condition", "code": {"text": "flu"}}
    bundle = {"entry": [{"resource": condition, "search": {"mode": "match"}},
                        {"resource": outcome, "search": {"mode": "outcome"}},
                        {"resource": outcome}]}  # fmt: skip
    views = record_views(bundle)
    assert (
        views["limits"]
        == [{"code": "per-visit-only", "until": "2026-12-01T10:00:00Z", "text": "per visit"}] * 2
    )
    assert views["by_type"] == [{"type": "Condition", "n": 1}]
    assert group_record(bundle)["total"] == 1


async def test_break_glass_is_declared_with_a_reason_and_the_csrf_token(
    client: httpx.AsyncClient, query: FakeQuery, smart: FakeSmartApp
) -> None:
    csrf = await signed_in(client, smart)
    path = f"/api/patients/{CONSENTED}/break-glass"
    reason = {"reason": "unconscious in the emergency room"}
    assert (await client.post(path, json=reason)).status_code == 403  # no CSRF token
    headers = {"x-csrf-token": csrf}
    r = await client.post(path, json={"reason": "short"}, headers=headers)
    assert r.status_code in (400, 422) and "reason" in r.text
    r = await client.post(path, json=reason, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"cid": CONSENTED, "until": "2025-06-10T09:00:00+07:00"}
    assert query.glass == [(CONSENTED, "unconscious in the emergency room")]
    r = await client.post(
        f"/api/patients/{NOT_CONSENTED}/break-glass", json=reason, headers=headers
    )
    assert r.status_code == 403 and r.json()["reason"] == "no-consent"
    r = await client.post("/api/patients/1101700230709/break-glass", json=reason, headers=headers)
    assert r.status_code == 400 and r.json()["error"] == "invalid-cid"
