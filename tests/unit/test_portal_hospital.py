"""The hospital console through the portal's composition root, on fake query, consent
and ingest services (tests/support/hospital_fakes.py; docs/portal.md)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.portal.app import CSP
from tests.support import hospital_fakes as fakes
from tests.support.hospital_fakes import HOSPITAL, KEY, FakeHospitalApi, signed_in

pytestmark = pytest.mark.unit
WEB = Path(__file__).resolve().parents[2] / "services" / "portal" / "web"


@pytest.fixture
def backends() -> FakeHospitalApi:
    return FakeHospitalApi()


@pytest.fixture
async def client(backends: FakeHospitalApi) -> AsyncIterator[httpx.AsyncClient]:
    async with fakes.console_client(backends) as portal:
        yield portal


async def page_csrf(client: httpx.AsyncClient) -> str:
    return str((await client.get("/api/hospital/session")).json()["csrf"])


async def test_the_console_pages_are_served_under_the_strict_csp(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/hospital", "/hospital/", "/hospital/physicians", "/hospital/uploads"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-security-policy"] == CSP
        assert "<script>" not in r.text and not re.search(r"\son[a-z]+=", r.text)
        assert 'name="viewport"' in r.text and 'class="hospital phone"' in r.text
        assert 'id="signin-form"' in r.text and 'id="lang-th"' in r.text  # page in the shell
    assert (await client.get("/hospital/elsewhere")).status_code == 404
    for path in ("/static/hospital/main.js", "/static/common/page.js"):
        r = await client.get(path)
        assert r.status_code == 200 and "innerHTML" not in r.text, path
    for path in ("/i18n/hospital.th.json", "/i18n/hospital.en.json"):
        assert (await client.get(path)).status_code == 200, path


def test_both_console_catalogues_have_the_same_keys_and_every_key_the_page_uses() -> None:
    th = json.loads((WEB / "i18n" / "hospital.th.json").read_text())
    en = json.loads((WEB / "i18n" / "hospital.en.json").read_text())
    assert set(th) == set(en)
    html = "".join((WEB / f"{page}.html").read_text() for page in ("hospital", "phone", "shell"))
    used = {part.split('"')[1] for part in html.split("data-i18n=")[1:]}
    used |= {part.split('"')[1] for part in html.split("data-i18n-label=")[1:]}
    assert used <= set(th), used - set(th)
    script = (WEB / "static" / "hospital" / "main.js").read_text()
    literal = set(re.findall(r"t\('([a-z][a-z-]*\.[a-z_.-]+)'", script))
    literal |= set(re.findall(r"key: '([a-z-]+\.[a-z-]+)'", script))
    assert literal <= set(th), literal - set(th)
    assert all(th[k] != en[k] for k in th if k.startswith("reason."))


async def test_sign_in_keeps_the_admin_key_on_the_server_behind_a_strict_cookie(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        "/api/hospital/session",
        json=fakes.SIGN_IN,
        headers={"x-csrf-token": await page_csrf(client)},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["signed_in"] and body["hospital"] == HOSPITAL and body["name"] == fakes.NAME
    assert KEY not in r.text
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("hl_hospital="))
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered
    assert "path=/api/hospital" in lowered
    r = await client.get("/api/hospital/session")
    assert r.json()["signed_in"] and KEY not in r.text
    assert r.headers["cache-control"] == "no-store"
    # the physician's and the patient's sessions know nothing of it
    assert not (await client.get("/api/session")).json()["signed_in"]
    assert not (await client.get("/api/patient/session")).json()["signed_in"]


REFUSED_SIGN_INS = [
    (
        {**fakes.SIGN_IN, "key": fakes.OTHER_KEY},
        (401, "wrong-credentials"),
    ),  # another hospital's key
    ({"hospital": "99999", "key": KEY}, (404, "hospital-not-found")),
    ({**fakes.SIGN_IN, "hospital": "1067"}, (400, None)),
    ({**fakes.SIGN_IN, "key": "short"}, (400, None)),
    ({**fakes.SIGN_IN, "key": "a b" * 10}, (400, None)),
]


@pytest.mark.parametrize(("form", "refusal"), REFUSED_SIGN_INS)
async def test_sign_in_refusals_carry_a_code_the_page_translates(
    client: httpx.AsyncClient, form: dict[str, str], refusal: tuple[int, str]
) -> None:
    csrf = {"x-csrf-token": await page_csrf(client)}
    r = await client.post("/api/hospital/session", json=form, headers=csrf)
    assert (r.status_code, r.json().get("error")) == refusal, r.text
    assert not (await client.get("/api/hospital/session")).json()["signed_in"]


CHANGES = [
    ("POST", "/api/hospital/physicians", {"licence": "10002"}),
    ("DELETE", "/api/hospital/physicians/10001", None),
    ("POST", "/api/hospital/uploads/set-aside/letter-1/retry", {}),
    ("POST", "/api/hospital/session/end", {}),
    ("POST", "/api/hospital/language", {"lang": "en"}),
]


@pytest.mark.parametrize(("method", "path", "body"), CHANGES)
async def test_every_change_needs_the_session_s_csrf_token_and_the_portal_s_origin(
    client: httpx.AsyncClient, backends: FakeHospitalApi, method: str, path: str, body: object
) -> None:
    csrf = await signed_in(client)
    before = len(backends.calls)
    for headers in ({}, {"x-csrf-token": "wrong"}, {"x-csrf-token": csrf, "origin": "http://evil"}):
        r = await client.request(method, path, json=body, headers=headers)
        assert r.status_code == 403 and r.json()["error"] == "csrf", (headers, r.text)
    assert len(backends.calls) == before  # nothing reached a back end
    r = await client.request(method, path, json=body, headers={"x-csrf-token": csrf})
    assert r.status_code in (200, 201), r.text


async def test_the_roster_add_by_licence_and_remove_with_clear_errors(
    client: httpx.AsyncClient, backends: FakeHospitalApi
) -> None:
    csrf = {"x-csrf-token": await signed_in(client)}
    r = await client.get("/api/hospital/physicians")
    assert r.json() == {"hospital": HOSPITAL, "physicians": ["10001"]}
    r = await client.post("/api/hospital/physicians", json={"licence": "10003"}, headers=csrf)
    assert r.status_code == 201 and r.json()["physicians"] == ["10001", "10003"]
    r = await client.post("/api/hospital/physicians", json={"licence": "10003"}, headers=csrf)
    assert r.status_code == 409 and r.json()["error"] == "already-on-roster", r.text
    r = await client.post("/api/hospital/physicians", json={"licence": "77777"}, headers=csrf)
    assert r.status_code == 404 and r.json()["error"] == "unknown-licence", r.text
    r = await client.post("/api/hospital/physicians", json={"licence": "1x"}, headers=csrf)
    assert r.status_code == 400
    r = await client.delete("/api/hospital/physicians/10001", headers=csrf)
    assert r.status_code == 200 and r.json()["physicians"] == ["10003"]
    r = await client.delete("/api/hospital/physicians/10001", headers=csrf)
    assert r.status_code == 404 and r.json()["error"] == "not-on-list"
    # every call carried this hospital's key, for this hospital only
    assert {(key, code) for _, key, code in backends.calls} == {(KEY, HOSPITAL)}


async def test_set_aside_uploads_show_their_reason_and_one_is_retried(
    client: httpx.AsyncClient, backends: FakeHospitalApi
) -> None:
    csrf = {"x-csrf-token": await signed_in(client)}
    entries = (await client.get("/api/hospital/uploads/set-aside")).json()["entries"]
    assert [(e["id"], e["status"]) for e in entries] == [
        ("letter-1", "pending"),
        ("letter-2", "retried"),
    ]
    first = entries[0]
    assert first["reason"] == "no-consent" and first["upload_id"] == "upload-1"
    assert first["bytes"] == 1201 and first["resource_types"] == {"Encounter": 1, "Observation": 1}
    assert "headers" not in first and "source" not in first  # only what the screen needs
    r = await client.post("/api/hospital/uploads/set-aside/letter-1/retry", headers=csrf)
    assert r.status_code == 200 and r.json() == {"id": "letter-1", "retried": True}
    entries = (await client.get("/api/hospital/uploads/set-aside")).json()["entries"]
    assert {e["status"] for e in entries} == {"retried"}
    r = await client.post("/api/hospital/uploads/set-aside/letter-9/retry", headers=csrf)
    assert r.status_code == 404 and r.json()["error"] == "letter-not-found"
    r = await client.post("/api/hospital/uploads/set-aside/a%2Fb/retry", headers=csrf)
    assert r.status_code in (400, 404)


async def test_data_requests_a_page_at_a_time(
    client: httpx.AsyncClient, backends: FakeHospitalApi
) -> None:
    await signed_in(client)
    first = (await client.get("/api/hospital/data-requests")).json()
    assert [r["id"] for r in first["requests"]] == ["datareq-1"] and first["more"]
    assert set(first["requests"][0]) == {"id", "patient", "reason", "time"}
    later = await client.get("/api/hospital/data-requests", params={"cursor": first["next"]})
    assert [r["id"] for r in later.json()["requests"]] == ["datareq-2"]
    assert not later.json()["more"]
    bad = await client.get("/api/hospital/data-requests", params={"cursor": "a/b"})
    assert bad.status_code == 400
    assert ("data-requests", KEY, HOSPITAL) in backends.calls


async def test_another_hospital_sees_only_its_own_uploads(client: httpx.AsyncClient) -> None:
    csrf = {
        "x-csrf-token": await signed_in(client, {"hospital": fakes.OTHER, "key": fakes.OTHER_KEY})
    }
    assert (await client.get("/api/hospital/uploads/set-aside")).json()["entries"] == []
    r = await client.post("/api/hospital/uploads/set-aside/letter-1/retry", headers=csrf)
    assert r.status_code == 404


async def test_without_a_session_nothing_is_read_and_sign_out_ends_it(
    client: httpx.AsyncClient, backends: FakeHospitalApi
) -> None:
    for path in ("/api/hospital/physicians", "/api/hospital/uploads/set-aside"):
        r = await client.get(path)
        assert r.status_code == 401 and r.json()["error"] == "signed-out", path
    assert backends.calls == []
    csrf = await signed_in(client)
    r = await client.post("/api/hospital/session/end", headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and not r.json()["signed_in"]
    assert (await client.get("/api/hospital/physicians")).status_code == 401


async def test_a_session_ends_with_its_lifetime_or_when_the_key_is_refused(
    client: httpx.AsyncClient, backends: FakeHospitalApi
) -> None:
    await signed_in(client)
    backends.clock.now += 601
    assert (await client.get("/api/hospital/physicians")).status_code == 401
    await signed_in(client)
    backends.keys[HOSPITAL] = "c" * 64  # the key was changed meanwhile
    r = await client.get("/api/hospital/physicians")
    assert r.status_code == 401 and r.json()["error"] == "signed-out"
    backends.keys[HOSPITAL] = KEY
    assert not (await client.get("/api/hospital/session")).json()["signed_in"]


@pytest.mark.parametrize(
    "path",
    ["/api/hospital/physicians", "/api/hospital/uploads/set-aside", "/api/hospital/data-requests"],
)
async def test_a_back_end_down_is_a_503_not_a_500(
    client: httpx.AsyncClient, backends: FakeHospitalApi, path: str
) -> None:
    await signed_in(client)
    backends.down = True
    r = await client.get(path)
    assert (r.status_code, r.json()["error"]) == (503, "unavailable")


async def test_set_aside_uploads_come_a_page_at_a_time_with_the_next_cursor(
    client: httpx.AsyncClient, backends: FakeHospitalApi
) -> None:
    backends.page_size = 1
    await signed_in(client)
    first = (await client.get("/api/hospital/uploads/set-aside")).json()
    assert [e["id"] for e in first["entries"]] == ["letter-1"] and first["next"] == "1"
    second = (await client.get(f"/api/hospital/uploads/set-aside?cursor={first['next']}")).json()
    assert [e["id"] for e in second["entries"]] == ["letter-2"] and second["next"] is None
    r = await client.get("/api/hospital/uploads/set-aside?cursor=a%2Fb")
    assert r.status_code == 400


async def test_pages_without_this_hospital_s_uploads_are_looked_past(
    client: httpx.AsyncClient, backends: FakeHospitalApi
) -> None:
    backends.page_size = 1
    backends.letters[HOSPITAL] = [{}, {}, *backends.letters[HOSPITAL]]
    real = backends.set_aside

    async def sparse(key: str, code: str, cursor: str = "") -> dict[str, Any]:
        page = await real(key, code, cursor)  # the first two pages hold none of its letters
        return {**page, "entries": [e for e in page["entries"] if e]}

    backends.set_aside = sparse  # type: ignore[method-assign]
    await signed_in(client)
    body = (await client.get("/api/hospital/uploads/set-aside")).json()
    assert [e["id"] for e in body["entries"]] == ["letter-1"] and body["next"] == "3"
