"""The operator view through the portal's composition root, on fake services
(tests/support/operator_fakes.py; docs/portal.md#the-operator-view)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.portal.app import CSP
from services.portal.operator_views import key_metrics, retry_owner, topic_lags
from tests.support import operator_fakes as fakes
from tests.support.operator_fakes import AUDITOR_TOKEN, OPERATOR_TOKEN, FakeOperatorApi, signed_in

pytestmark = pytest.mark.unit
WEB = Path(__file__).resolve().parents[2] / "services" / "portal" / "web"
SCRIPTS = ("main", "hospitals", "letters", "health", "shared")


@pytest.fixture
def backends() -> FakeOperatorApi:
    return FakeOperatorApi()


@pytest.fixture
async def client(backends: FakeOperatorApi) -> AsyncIterator[httpx.AsyncClient]:
    async with fakes.operator_client(backends) as portal:
        yield portal


async def test_the_operator_pages_are_served_under_the_strict_csp(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/operator", "/operator/", "/operator/hospitals", "/operator/letters",
                 "/operator/status"):  # fmt: skip
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-security-policy"] == CSP
        assert "<script>" not in r.text and not re.search(r"\son[a-z]+=", r.text)
        assert 'class="operator phone"' in r.text and 'id="token"' in r.text
    assert (await client.get("/operator/elsewhere")).status_code == 404
    for name in SCRIPTS:
        r = await client.get(f"/static/operator/{name}.js")
        assert r.status_code == 200 and "innerHTML" not in r.text, name


def test_both_catalogues_have_the_same_keys_and_every_key_the_page_uses() -> None:
    th = json.loads((WEB / "i18n" / "operator.th.json").read_text())
    en = json.loads((WEB / "i18n" / "operator.en.json").read_text())
    assert set(th) == set(en)
    html = "".join((WEB / f"{page}.html").read_text() for page in ("operator", "phone", "shell"))
    used = {part.split('"')[1] for part in html.split("data-i18n=")[1:]}
    used |= {part.split('"')[1] for part in html.split("data-i18n-label=")[1:]}
    assert used <= set(th), used - set(th)
    script = "".join((WEB / "static" / "operator" / f"{n}.js").read_text() for n in SCRIPTS)
    literal = set(re.findall(r"t\('([a-z][a-z-]*\.[a-z_.-]+)'", script))
    literal |= set(re.findall(r"key: '([a-z-]+\.[a-z-]+)'", script))
    assert literal <= set(th), literal - set(th)
    for action in ("promote", "suspend", "reinstate", "added"):
        assert f"done.{action}" in th


async def test_sign_in_keeps_the_token_on_the_server_and_names_the_operator(
    client: httpx.AsyncClient, backends: FakeOperatorApi
) -> None:
    page = (await client.get("/api/operator/session")).json()["csrf"]
    wrong = await client.post("/api/operator/session", json={"token": "no.such.token"},
                              headers={"x-csrf-token": page})  # fmt: skip
    assert wrong.status_code == 401 and wrong.json()["error"] == "wrong-credentials"
    for bad in ({"token": "not-a-jwt"}, {}, {"token": "a.b.c" * 3000}):
        r = await client.post("/api/operator/session", json=bad, headers={"x-csrf-token": page})
        assert 400 <= r.status_code < 500, bad
    no_csrf = await client.post("/api/operator/session", json={"token": OPERATOR_TOKEN})
    assert no_csrf.status_code == 403 and no_csrf.json()["error"] == "csrf"
    r = await client.post("/api/operator/session", json={"token": OPERATOR_TOKEN},
                          headers={"x-csrf-token": page})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["roles"], body["may_change"]) == ("somchai", ["operator"], True)
    assert OPERATOR_TOKEN not in r.text
    cookie = r.headers["set-cookie"]
    assert "hl_operator=" in cookie and "HttpOnly" in cookie and "Path=/api/operator" in cookie
    assert "samesite=strict" in cookie.lower()
    assert body["expires_at"] == backends.clock() + 300  # the token's end, before the TTL's


async def test_hospitals_are_listed_added_and_changed_with_the_operators_token(
    client: httpx.AsyncClient, backends: FakeOperatorApi
) -> None:
    assert (await client.get("/api/operator/hospitals")).status_code == 401
    csrf = await signed_in(client)
    listed = (await client.get("/api/operator/hospitals")).json()["hospitals"]
    assert [h["code"] for h in listed] == ["10670", "13781"]
    assert set(listed[0]) == {"code", "name", "role", "consent_mode", "active", "signing_keys"}
    headers = {"x-csrf-token": csrf}
    new = {"code": "11535", "name": "Chulalongkorn", "role": "consumer", "consent_mode": "standing"}
    r = await client.post("/api/operator/hospitals", json=new, headers=headers)
    assert r.status_code == 201 and "admin_key" not in r.json() and "k" * 64 not in r.text
    again = await client.post("/api/operator/hospitals", json=new, headers=headers)
    assert again.status_code == 409 and again.json()["error"] == "already-registered"
    for bad in ({**new, "code": "1153"}, {**new, "role": "owner"}, {**new, "name": ""}):
        assert (
            await client.post("/api/operator/hospitals", json=bad, headers=headers)
        ).status_code in (400, 422)
    for action, field, value in (("promote", "role", "provider"), ("suspend", "active", False),
                                 ("reinstate", "active", True)):  # fmt: skip
        r = await client.post("/api/operator/hospitals/11535/change", json={"action": action},
                              headers=headers)  # fmt: skip
        assert r.status_code == 200 and r.json()[field] == value, r.text
    unknown = await client.post("/api/operator/hospitals/19999/change",
                                json={"action": "suspend"}, headers=headers)  # fmt: skip
    assert unknown.status_code == 404 and unknown.json()["error"] == "hospital-not-found"
    bad = await client.post("/api/operator/hospitals/abc/change", json={"action": "suspend"},
                            headers=headers)  # fmt: skip
    assert bad.status_code in (400, 422)
    odd = await client.post("/api/operator/hospitals/11535/change", json={"action": "delete"},
                            headers=headers)  # fmt: skip
    assert odd.status_code in (400, 422)


async def test_a_hospitals_signing_keys_are_shown_and_an_operator_removes_one(
    client: httpx.AsyncClient, backends: FakeOperatorApi
) -> None:
    csrf = await signed_in(client)
    listed = (await client.get("/api/operator/hospitals")).json()["hospitals"]
    siriraj, rama = listed
    assert siriraj["signing_keys"] == [
        {"kid": "si-2026", "alg": "ES256"},
        {"kid": "si-2025", "alg": "ES256"},
    ], "kid and algorithm only: no key material on the page"
    assert rama["signing_keys"] == []
    headers = {"x-csrf-token": csrf}
    url = "/api/operator/hospitals/10670/signing-keys/"
    assert (await client.delete(url + "si-2025")).status_code == 403, "no CSRF token"
    r = await client.delete(url + "si-2025", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["signing_keys"] == [{"kid": "si-2026", "alg": "ES256"}]
    assert ("remove-key", "10670", "si-2025") in backends.calls
    again = await client.delete(url + "si-2025", headers=headers)
    assert again.status_code == 404 and again.json()["error"] == "key-not-found", again.text
    for odd in ("x" * 65, "%20"):
        r = await client.delete(url + odd, headers=headers)
        assert 400 <= r.status_code < 500, odd
    r = await client.delete("/api/operator/hospitals/19999/signing-keys/k", headers=headers)
    assert r.status_code == 404 and r.json()["error"] == "hospital-not-found"


async def test_an_auditor_cannot_remove_a_signing_key(
    client: httpx.AsyncClient, backends: FakeOperatorApi
) -> None:
    csrf = await signed_in(client, AUDITOR_TOKEN)
    r = await client.delete("/api/operator/hospitals/10670/signing-keys/si-2025",
                            headers={"x-csrf-token": csrf})  # fmt: skip
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert len(backends.hospitals_by_code["10670"]["signing_keys"]) == 2


async def test_an_auditor_sees_everything_and_every_change_is_the_services_403(
    client: httpx.AsyncClient, backends: FakeOperatorApi
) -> None:
    csrf = await signed_in(client, AUDITOR_TOKEN)
    session = (await client.get("/api/operator/session")).json()
    assert (session["name"], session["may_change"]) == ("malee", False)
    assert (await client.get("/api/operator/hospitals")).status_code == 200
    assert (await client.get("/api/operator/services/ingest/letters")).status_code == 200
    headers = {"x-csrf-token": csrf}
    r = await client.post("/api/operator/hospitals/10670/change", json={"action": "suspend"},
                          headers=headers)  # fmt: skip
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert backends.hospitals_by_code["10670"]["active"] is True
    topic = {"topic": "healthlink.ingest.uploads"}
    r = await client.post("/api/operator/letters/letter-1/retry", json=topic, headers=headers)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


async def test_dead_letters_come_a_page_at_a_time_and_retry_through_the_topics_owner(
    client: httpx.AsyncClient, backends: FakeOperatorApi
) -> None:
    csrf = await signed_in(client)
    first = (await client.get("/api/operator/services/ingest/letters")).json()
    assert [e["id"] for e in first["entries"]] == ["letter-1", "letter-2"]
    assert first["entries"][0]["retry_via"] == "ingest" and first["next"] == "2"
    assert "source" not in first["entries"][0] and "preview" not in first["entries"][0]
    second = (await client.get("/api/operator/services/ingest/letters?cursor=2")).json()
    assert [e["id"] for e in second["entries"]] == ["letter-3"] and second["next"] is None
    assert (await client.get("/api/operator/services/mailer/letters")).status_code == 400
    assert (
        await client.get("/api/operator/services/ingest/letters?cursor=%3Cx%3E")
    ).status_code == 400
    headers = {"x-csrf-token": csrf}
    topic = {"topic": "healthlink.ingest.uploads"}
    r = await client.post("/api/operator/letters/letter-2/retry", json=topic, headers=headers)
    assert r.json() == {"id": "letter-2", "via": "ingest", "retried": True}
    assert ("retry", "ingest", "letter-2") in backends.calls
    consent = {"topic": "healthlink.consent.events"}
    await client.post("/api/operator/letters/letter-9/retry", json=consent, headers=headers)
    assert ("retry", "consent", "letter-9") in backends.calls
    nobody = {"topic": "healthlink.nowhere"}
    r = await client.post("/api/operator/letters/letter-1/retry", json=nobody, headers=headers)
    assert r.status_code == 409 and r.json()["error"] == "no-owner"


async def test_status_and_audit_and_an_expired_token_ends_the_session(
    client: httpx.AsyncClient, backends: FakeOperatorApi
) -> None:
    await signed_in(client)
    found = {s["service"]: s for s in (await client.get("/api/operator/status")).json()["services"]}
    assert list(found) == ["consent", "ingest", "query", "audit", "notify", "auth"]
    assert found["consent"]["ready"] is None and found["consent"]["metrics"] is None
    assert found["query"]["ready"] is False and found["query"]["failing"] == ["database"]
    assert found["ingest"]["metrics"] == {"lag": 7, "dead_letters": 2, "failed": 0, "consumed": 10}
    assert found["ingest"]["lags"] == {"t": 7} and found["consent"]["lags"] is None
    assert found["consent"]["replay"] == "healthlink replay consent"
    audit = (await client.get("/api/operator/audit")).json()
    assert audit == {"ok": True, "records": 12, "heads": 2, "unsigned": 1, "breaches": 0}
    backends.expired = True
    r = await client.get("/api/operator/audit")
    assert r.status_code == 401 and r.json()["error"] == "signed-out"
    assert not (await client.get("/api/operator/session")).json()["signed_in"]


def test_key_metrics_and_owners() -> None:
    assert key_metrics("garbage\nhealthlink_consumer_lag{a=\"b\"} NaN\n") == {
        "lag": 0, "dead_letters": 0, "failed": 0, "consumed": 0}  # fmt: skip
    assert retry_owner("healthlink.ingest.uploads", ("ingest", "consent")) == "ingest"
    exposition = (
        'healthlink_consumer_lag{partition="0",service="a",topic="x.b"} 2.0\n'
        'healthlink_consumer_lag{partition="1",service="a",topic="x.b"} 3.0\n'
        'healthlink_consumer_lag{partition="0",service="a",topic="x.a"} NaN\n'
        'healthlink_consumer_lag_other{topic="x.c"} 9\nhealthlink_consumer_lag{topic="x.d"}\n'
    )
    assert topic_lags(exposition) == {"x.b": 5}
    assert retry_owner("healthlink.nowhere", ("ingest", "audit")) is None
