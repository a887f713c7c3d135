"""The hospital console's keys screen through the portal's composition root, on fake
consent, query and ingest services (tests/support/hospital_fakes.py; docs/portal.md#keys-
and-the-admin-key): signing keys listed, added (a public JWK; a private one refused before
it goes anywhere), removed, and the admin key rotated with the session switching to it."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from healthlink_adapter.signing import new_key, public_jwk

from services.portal import hospital_keys
from services.portal.hospital_backends import HttpHospitalApi
from tests.support import hospital_fakes as fakes
from tests.support.hospital_fakes import HOSPITAL, KEY, SIGNING_KEY, FakeHospitalApi, signed_in

pytestmark = pytest.mark.unit
WEB = Path(__file__).resolve().parents[2] / "services" / "portal" / "web"
KEYS = "/api/hospital/signing-keys"


@pytest.fixture
def backends() -> FakeHospitalApi:
    return FakeHospitalApi()


@pytest.fixture
async def client(backends: FakeHospitalApi) -> AsyncIterator[httpx.AsyncClient]:
    async with fakes.console_client(backends) as portal:
        yield portal


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hospital_keys, "KEY_POLL_S", 0.0)


def kids(body: dict[str, Any]) -> list[str]:
    return [k["kid"] for k in body["keys"]]


async def test_the_keys_screen_is_served_and_its_words_are_in_both_catalogues(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/hospital/keys")).status_code == 200
    r = await client.get("/static/hospital/keys.js")
    assert r.status_code == 200 and "innerHTML" not in r.text
    th = json.loads((WEB / "i18n" / "hospital.th.json").read_text())
    en = json.loads((WEB / "i18n" / "hospital.en.json").read_text())
    assert set(th) == set(en)
    script = (WEB / "static" / "hospital" / "keys.js").read_text()
    html = (WEB / "hospital.html").read_text()
    used = set(re.findall(r"t\('([a-z][a-z-]*\.[a-z_.-]+)'", script))
    used |= set(re.findall(r"key: '([a-z-]+\.[a-z-]+)'", script))
    used |= {f"error.{c}" for c in re.findall(r"formError\('[a-z-]+', '([a-z-]+)'\)", script)}
    used |= {part.split('"')[1] for part in html.split("data-i18n=")[1:]}
    assert "keys.confirm-last" in used and used <= set(th), used - set(th)
    for code in ("invalid-key", "private-key", "kid-dash", "kid-in-use", "too-many-keys",
                 "key-not-found", "key-not-yet-taken", "forbidden", "signed-out"):  # fmt: skip
        assert th["error." + code] != en["error." + code], code


async def test_the_hospital_s_signing_keys_are_listed_public_parts_only(
    client: httpx.AsyncClient,
) -> None:
    await signed_in(client)
    r = await client.get(KEYS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["hospital"] == HOSPITAL and kids(body) == [SIGNING_KEY["kid"]]
    assert set(body["keys"][0]) == {"kid", "kty", "crv", "alg", "use", "added_at"}
    assert body["keys"][0]["added_at"] is None  # consent keeps no time a key was added


async def test_a_public_key_is_added_with_this_hospital_s_admin_key(
    client: httpx.AsyncClient, backends: FakeHospitalApi
) -> None:
    csrf = {"x-csrf-token": await signed_in(client)}
    made = public_jwk(new_key())
    r = await client.post(KEYS, json={"jwk": made}, headers=csrf)
    assert r.status_code == 201, r.text
    assert r.json()["kid"] == made["kid"] and kids(r.json())[-1] == made["kid"]
    assert backends.calls[-1] == ("add-key", KEY, HOSPITAL)
    # a JWK set with one key, as `healthlink hospitals keygen` prints it, is taken too
    other = public_jwk(new_key())
    r = await client.post(KEYS, json={"jwk": {"keys": [other]}}, headers=csrf)
    assert r.status_code == 201 and other["kid"] in kids(r.json()), r.text
    # the same key again changes nothing
    r = await client.post(KEYS, json={"jwk": made}, headers=csrf)
    assert r.status_code == 201 and kids(r.json()).count(made["kid"]) == 1


def _private() -> dict[str, Any]:
    key = new_key()
    return key.as_dict(private=True) | {"kid": key.kid}


REFUSED_KEYS = [
    ({"jwk": _private()}, (422, "private-key")),
    ({"jwk": {"keys": [_private()]}}, (422, "private-key")),
    ({"jwk": public_jwk(new_key()) | {"kid": "-starts-with-a-dash"}}, (422, "kid-dash")),
    ({"jwk": public_jwk(new_key()) | {"crv": "P-384"}}, (422, "invalid-key")),
    ({"jwk": public_jwk(new_key()) | {"x": "AAAA"}}, (422, "invalid-key")),
    ({"jwk": {k: v for k, v in public_jwk(new_key()).items() if k != "kid"}}, (422, "invalid-key")),
    ({"jwk": {"keys": []}}, (422, "invalid-key")),
    ({"jwk": "not an object"}, (400, None)),
    ({}, (400, None)),
]


@pytest.mark.parametrize(("body", "refusal"), REFUSED_KEYS)
async def test_a_key_that_cannot_be_registered_is_refused_before_consent_sees_it(
    client: httpx.AsyncClient, backends: FakeHospitalApi, body: object, refusal: tuple[int, Any]
) -> None:
    csrf = {"x-csrf-token": await signed_in(client)}
    before = len(backends.calls)
    r = await client.post(KEYS, json=body, headers=csrf)
    assert (r.status_code, r.json().get("error")) == refusal, r.text
    assert len(backends.calls) == before  # a private key never leaves the portal
    assert '"d"' not in r.text and "d=" not in r.text


async def test_consent_s_refusals_keep_their_meaning(
    client: httpx.AsyncClient, backends: FakeHospitalApi
) -> None:
    csrf = {"x-csrf-token": await signed_in(client)}
    clash = public_jwk(new_key(SIGNING_KEY["kid"]))  # another key under a kid in use
    r = await client.post(KEYS, json={"jwk": clash}, headers=csrf)
    assert (r.status_code, r.json()["error"]) == (409, "kid-in-use"), r.text
    for _ in range(9):
        assert (
            await client.post(KEYS, json={"jwk": public_jwk(new_key())}, headers=csrf)
        ).is_success
    r = await client.post(KEYS, json={"jwk": public_jwk(new_key())}, headers=csrf)
    assert (r.status_code, r.json()["error"]) == (409, "too-many-keys"), r.text


async def test_a_key_is_removed_and_an_unknown_one_is_a_404(
    client: httpx.AsyncClient, backends: FakeHospitalApi
) -> None:
    csrf = {"x-csrf-token": await signed_in(client)}
    r = await client.delete(f"{KEYS}/{SIGNING_KEY['kid']}", headers=csrf)
    assert r.status_code == 200 and kids(r.json()) == [], r.text
    assert backends.calls[-1] == ("remove-key", KEY, HOSPITAL)
    r = await client.delete(f"{KEYS}/{SIGNING_KEY['kid']}", headers=csrf)
    assert (r.status_code, r.json()["error"]) == (404, "key-not-found")
    assert (await client.delete(f"{KEYS}/{'k' * 65}", headers=csrf)).status_code == 400


async def test_the_admin_key_is_rotated_and_the_session_keeps_working_with_the_new_one(
    client: httpx.AsyncClient, backends: FakeHospitalApi
) -> None:
    csrf = {"x-csrf-token": await signed_in(client)}
    backends.lag = 3  # query and ingest learn the new key a few polls later
    r = await client.post("/api/hospital/admin-key", headers=csrf)
    assert r.status_code == 201, r.text
    new = r.json()["admin_key"]
    assert new != KEY and r.json()["taken"] is True
    assert (await client.get("/api/hospital/physicians")).status_code == 200
    assert backends.calls[-1] == ("roster", new, HOSPITAL)  # the session holds the new key
    assert "admin_key" not in (await client.get("/api/hospital/session")).text
    # the old key signs in no more; the new one does
    page = {"x-csrf-token": (await client.get("/api/hospital/session")).json()["csrf"]}
    async with fakes.console_client(backends) as other:
        page = {"x-csrf-token": (await other.get("/api/hospital/session")).json()["csrf"]}
        r = await other.post("/api/hospital/session", json=fakes.SIGN_IN, headers=page)
        assert (r.status_code, r.json()["error"]) == (401, "wrong-credentials")
        await signed_in(other, {"hospital": HOSPITAL, "key": new})


async def test_a_new_key_the_services_have_not_yet_taken_does_not_end_the_session(
    client: httpx.AsyncClient, backends: FakeHospitalApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hospital_keys, "KEY_WAIT_S", 0.05)
    csrf = {"x-csrf-token": await signed_in(client)}
    backends.lag = 10**9  # query and ingest do not learn it in time
    r = await client.post("/api/hospital/admin-key", headers=csrf)
    assert r.status_code == 201 and r.json()["taken"] is False, r.text
    r = await client.get("/api/hospital/physicians")  # query still refuses the new key
    assert (r.status_code, r.json()["error"]) == (503, "key-not-yet-taken"), r.text
    assert (await client.get("/api/hospital/session")).json()["signed_in"]
    backends.clock.now += 61  # past the grace: a refused key ends the session again
    r = await client.get("/api/hospital/physicians")
    assert (r.status_code, r.json()["error"]) == (401, "signed-out")


async def test_a_new_admin_key_is_shown_even_when_a_service_does_not_answer_the_check(
    client: httpx.AsyncClient, backends: FakeHospitalApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hospital_keys, "KEY_WAIT_S", 0.05)
    csrf = {"x-csrf-token": await signed_in(client)}
    backends.probes_down = True
    r = await client.post("/api/hospital/admin-key", headers=csrf)
    assert r.status_code == 201 and r.json()["taken"] is False, r.text
    assert r.json()["admin_key"] == backends.keys[HOSPITAL]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", KEYS, {"jwk": public_jwk(new_key())}),
        ("DELETE", f"{KEYS}/{SIGNING_KEY['kid']}", None),
        ("POST", "/api/hospital/admin-key", None),
    ],
)
async def test_every_key_change_needs_the_csrf_token_and_a_session(
    client: httpx.AsyncClient, backends: FakeHospitalApi, method: str, path: str, body: object
) -> None:
    r = await client.request(method, path, json=body, headers={"x-csrf-token": "x"})
    assert r.status_code == 403 and r.json()["error"] == "csrf"
    csrf = {"x-csrf-token": (await client.get("/api/hospital/session")).json()["csrf"]}
    r = await client.request(method, path, json=body, headers=csrf)
    assert (r.status_code, r.json()["error"]) == (401, "signed-out")
    csrf = {"x-csrf-token": await signed_in(client)}
    before = len(backends.calls)
    for headers in ({}, {"x-csrf-token": csrf["x-csrf-token"], "origin": "http://evil"}):
        r = await client.request(method, path, json=body, headers=headers)
        assert r.status_code == 403 and r.json()["error"] == "csrf", r.text
    assert len(backends.calls) == before
    assert (await client.request(method, path, json=body, headers=csrf)).is_success


async def test_consent_s_key_api_is_called_with_the_admin_key_and_a_quoted_kid() -> None:
    seen: list[tuple[str, str, str | None]] = []

    def consent(request: httpx.Request) -> httpx.Response:  # consent's key API, in memory
        seen.append(
            (request.method, request.url.raw_path.decode(), request.headers["authorization"])
        )
        if request.url.path.endswith("/admin-key"):
            return httpx.Response(201, json={"code": HOSPITAL, "admin_key": "n" * 43})
        return httpx.Response(200, json={"code": HOSPITAL, "signing_keys": []})

    urls = {"consent": "http://consent.test"}
    api = HttpHospitalApi(urls, 5, transport=httpx.MockTransport(consent))
    await api.remove_signing_key(KEY, HOSPITAL, "a/b?c")
    assert await api.rotate_admin_key(KEY, HOSPITAL) == "n" * 43
    await api.add_signing_key(KEY, HOSPITAL, dict(SIGNING_KEY))
    await api.aclose()
    assert [s[:2] for s in seen] == [
        ("DELETE", f"/hospitals/{HOSPITAL}/signing-keys/a%2Fb%3Fc"),
        ("POST", f"/hospitals/{HOSPITAL}/admin-key"),
        ("POST", f"/hospitals/{HOSPITAL}/signing-keys"),
    ]
    assert {s[2] for s in seen} == {f"Bearer {KEY}"}
