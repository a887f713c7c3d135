"""The patient portal's SMART sign-in and "my record" through the portal's composition
root, on a fake auth service (``FakePatientSmart``) and fake consent, audit, notify and
query services: the way to ``/authorize`` and back through ``/patient/callback``, each
failure told by a code the page translates, the token kept here and renewed, the record
grouped and exported as a FHIR Bundle (docs/portal.md, "The patient portal")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from services.portal.handlers import Deps
from services.portal.patient_views import PatientSession
from services.portal.patients import PatientDeps
from services.portal.repository import HttpQuery, MemorySessions
from tests.support.portal_fakes import (
    CONSENTED,
    FakePatientApi,
    FakePatientSmart,
    FakeQuery,
    FakeSmartApp,
)
from tests.support.portal_patient_client import Clock, app_client, patient_deps

pytestmark = pytest.mark.unit
WEB = Path(__file__).resolve().parents[2] / "services" / "portal" / "web"
CODES = ("signin-expired", "signin-state", "signin-denied", "signin-failed", "smart-required")


async def start(client: httpx.AsyncClient, smart: FakePatientSmart) -> str:
    r = await client.get("/patient/signin", headers={"accept-language": "en"})
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("http://auth.test/authorize?")
    return smart.requests[-1]["state"]


def error_of(r: httpx.Response) -> str:
    assert r.status_code == 303, r.text
    location = urlsplit(r.headers["location"])
    assert location.path == "/patient/"
    return parse_qs(location.query)["signin-error"][0]


async def signed_in(client: httpx.AsyncClient, smart: FakePatientSmart) -> httpx.Response:
    state = await start(client, smart)
    r = await client.get("/patient/callback", params={"state": state, "code": smart.approve()})
    assert r.status_code == 303 and r.headers["location"] == "/patient/", r.headers
    return r


async def test_sign_in_goes_to_the_auth_service_and_the_patients_token_stays_here(
    client: httpx.AsyncClient, smart: FakePatientSmart, backends: FakePatientApi
) -> None:
    r = await client.get("/patient/signin", headers={"accept-language": "th"})
    sent = parse_qs(urlsplit(r.headers["location"]).query)
    assert sent["ui_locales"] == ["th"] and len(sent["state"][0]) >= 40
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith("hl_patient_signin=") and "httponly" in cookie
    assert "samesite=lax" in cookie and "path=/patient/callback" in cookie

    r = await client.get(
        "/patient/callback", params={"state": sent["state"][0], "code": smart.approve()}
    )
    assert r.status_code == 303 and r.headers["location"] == "/patient/"
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("hl_patient="))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/api/patient" in session
    assert "patient-smart-token" not in " ".join(cookies)
    body = (await client.get("/api/patient/session")).json()
    assert body["signed_in"] and body["cid"] == CONSENTED
    assert "patient-smart-token" not in json.dumps(body)
    # consent, audit and notify are called with the patient's SMART token
    r = await client.get("/api/patient/consent")
    assert r.status_code == 200, r.text
    assert ("consent", CONSENTED) in backends.calls or backends.consents.get(CONSENTED)


async def test_each_failure_comes_back_to_the_page_with_its_code(
    client: httpx.AsyncClient, smart: FakePatientSmart
) -> None:
    # no sign-in pending in this browser
    r = await client.get("/patient/callback", params={"state": "x", "code": "y"})
    assert error_of(r) == "signin-expired"
    # a forged state
    await start(client, smart)
    r = await client.get("/patient/callback", params={"state": "forged", "code": smart.approve()})
    assert error_of(r) == "signin-state"
    # the patient cancelled at the auth service
    state = await start(client, smart)
    r = await client.get("/patient/callback", params={"state": state, "error": "access_denied"})
    assert error_of(r) == "signin-denied"
    # the code refused
    state = await start(client, smart)
    smart.refuse_codes = True
    r = await client.get("/patient/callback", params={"state": state, "code": smart.approve()})
    assert error_of(r) == "signin-failed"
    assert not (await client.get("/api/patient/session")).json()["signed_in"]
    # oversized parameters: 400, not a 500
    r = await client.get("/patient/callback", params={"state": "s" * 201})
    assert r.status_code == 400


async def test_the_pending_sign_in_is_used_once(
    client: httpx.AsyncClient, smart: FakePatientSmart
) -> None:
    state = await start(client, smart)
    code = smart.approve()
    pending = client.cookies.get("hl_patient_signin", path="/patient/callback")
    await client.get("/patient/callback", params={"state": state, "code": code})
    client.cookies.set("hl_patient_signin", pending or "", path="/patient/callback")
    r = await client.get("/patient/callback", params={"state": state, "code": code})
    assert error_of(r) == "signin-expired"


async def test_an_auth_service_that_does_not_answer_is_a_redirect_not_an_error(
    client: httpx.AsyncClient, smart: FakePatientSmart
) -> None:
    smart.down = True
    r = await client.get("/patient/signin")
    assert error_of(r) == "signin-failed"


async def test_without_a_sign_in_service_signin_redirects_with_its_code(clock: Clock) -> None:
    patients = PatientDeps(sessions=MemorySessions(clock), api=FakePatientApi(), clock=clock)
    q = FakeQuery()
    deps = Deps(sessions=MemorySessions(clock), query=q, smart=FakeSmartApp(q), patients=patients)
    async with app_client(deps) as c:
        assert error_of(await c.get("/patient/signin")) == "signin-failed"
        r = await c.get("/patient/callback", params={"state": "a", "code": "b"})
        assert error_of(r) == "signin-expired"
        assert (await c.get("/api/patient/record")).status_code == 401


async def test_my_record_is_grouped_and_exported_as_a_bundle(
    client: httpx.AsyncClient, smart: FakePatientSmart
) -> None:
    assert (await client.get("/api/patient/record")).json()["error"] == "signed-out"
    await signed_in(client, smart)
    r = await client.get("/api/patient/record")
    assert r.status_code == 200, r.text
    record = r.json()
    assert record["cid"] == CONSENTED and record["total"] == 5
    types = [g["type"] for g in record["groups"]]
    assert types[0] == "AllergyIntolerance" and "Patient" not in types
    assert smart.query.reads[-1] == ("patient-smart-token-0", CONSENTED)

    r = await client.get("/api/patient/record/export")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert r.headers["content-disposition"].startswith("attachment;")
    bundle = r.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert "Patient" in kinds and "Observation" in kinds
    assert r.headers["cache-control"] == "no-store"


async def test_a_session_without_the_auth_services_token_cannot_read_the_record(
    backends: FakePatientApi, smart: FakePatientSmart, clock: Clock
) -> None:
    """Every session comes from the SMART sign-in now; one that did not (put in the store
    here) is not the query service's to read with."""
    sessions: MemorySessions[PatientSession] = MemorySessions(clock)
    deps = patient_deps(backends, smart, clock, sessions)
    plain = PatientSession(token="t", cid=CONSENTED, csrf="c", expires_at=clock() + 600)
    session_id = await sessions.open(plain)
    async with app_client(deps) as c:
        c.cookies.set("hl_patient", session_id)
        r = await c.get("/api/patient/record")
    assert r.status_code == 403 and r.json()["error"] == "smart-required"


async def test_the_token_is_renewed_before_a_call_and_a_refused_renewal_signs_out(
    client: httpx.AsyncClient, smart: FakePatientSmart, clock: Clock
) -> None:
    await signed_in(client, smart)
    clock.now += 290  # the 5-minute token ends within 30 s: renewed, rotated
    assert (await client.get("/api/patient/record")).status_code == 200
    assert smart.query.reads[-1][0] == "patient-smart-token-1"
    assert list(smart.refreshes) == ["patient-refresh-2"]
    smart.refreshes.clear()  # revoked at the auth service
    clock.now += 290
    r = await client.get("/api/patient/record")
    assert r.status_code == 401 and r.json()["error"] == "signed-out"
    assert not (await client.get("/api/patient/session")).json()["signed_in"]


async def test_a_token_the_query_service_refuses_ends_the_session(
    client: httpx.AsyncClient, smart: FakePatientSmart
) -> None:
    await signed_in(client, smart)
    smart.query.tokens.clear()
    assert (await client.get("/api/patient/record")).status_code == 401
    assert not (await client.get("/api/patient/session")).json()["signed_in"]


def test_the_record_screen_and_the_sign_in_codes_are_in_both_catalogues() -> None:
    for lang in ("th", "en"):
        catalogue = json.loads((WEB / "i18n" / f"patient.{lang}.json").read_text())
        for key in [f"error.{code}" for code in CODES] + [
            "nav.record",
            "record.title",
            "record.export",
            "signin.start",
        ]:
            assert catalogue.get(key), (lang, key)


async def test_every_page_of_everything_is_read_by_offset() -> None:
    """``HttpQuery.everything_pages``: pages by ``_offset`` until no ``next`` link; the
    search modes and the outcome entry dropped (a collection)."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["_offset"])
        seen.append(request.url.params["_offset"])
        entries: list[dict[str, Any]] = [
            {
                "resource": {"resourceType": "Observation", "id": f"o{offset}"},
                "search": {"mode": "match"},
            },
            {"resource": {"resourceType": "OperationOutcome"}, "search": {"mode": "outcome"}},
        ]
        links = [{"relation": "next", "url": "http://elsewhere.test/x"}] if offset < 2000 else []
        return httpx.Response(200, json={"resourceType": "Bundle", "entry": entries, "link": links})

    query = HttpQuery("http://query.test", 5.0)
    query._http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    bundle = await query.everything_pages("token", CONSENTED)
    await query.aclose()
    assert seen == ["0", "1000", "2000"]
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["o0", "o1000", "o2000"]
    assert all("search" not in e for e in bundle["entry"])


def test_patient_sessions_are_not_smart_unless_signed_in_at_auth() -> None:
    assert not PatientSession(token="t", cid=CONSENTED, csrf="c", expires_at=1.0).smart


async def test_sign_out_revokes_the_patients_refresh_token(
    client: httpx.AsyncClient, smart: FakePatientSmart
) -> None:
    await signed_in(client, smart)
    [held] = list(smart.refreshes)
    csrf = (await client.get("/api/patient/session")).json()["csrf"]
    r = await client.post("/api/patient/session/end", headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and not r.json()["signed_in"]
    assert smart.revoked == [held] and not smart.refreshes
    # a second sign-in, the auth service gone at sign-out: still signed out
    await signed_in(client, smart)
    csrf = (await client.get("/api/patient/session")).json()["csrf"]
    smart.down = True
    r = await client.post("/api/patient/session/end", headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and not r.json()["signed_in"]
    assert not (await client.get("/api/patient/session")).json()["signed_in"]
