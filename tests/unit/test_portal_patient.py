"""The patient portal through the portal's composition root, on fake consent, audit and
notify services (tests/support/portal_fakes.py; docs/portal.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from services.portal.app import CSP
from services.portal.errors import Unavailable
from services.portal.patient_backends import HttpPatientApi, outcome_error
from services.portal.patients import PAGE
from shared.errors import NotFound
from tests.support.portal_fakes import (
    CONSENTED,
    DEV_SCAN,
    HOSPITALS,
    FakePatientApi,
    FakePatientSmart,
)
from tests.support.portal_patient_client import Clock

pytestmark = pytest.mark.unit
WEB = Path(__file__).resolve().parents[2] / "services" / "portal" / "web"
CID = CONSENTED


async def page_csrf(client: httpx.AsyncClient) -> str:
    r = await client.get("/api/patient/session")
    assert r.status_code == 200
    csrf: str = r.json()["csrf"]
    return csrf


async def verified(client: httpx.AsyncClient, cid: str = CID) -> str:
    """Register through the portal and sign in with Health Link (the fake auth service
    approves ``cid``); returns the session's CSRF token."""
    csrf = await page_csrf(client)
    r = await client.post(
        "/api/patient/register",
        json={"cid": cid, "birth_date": "1980-05-17"},
        headers={"x-csrf-token": csrf},
    )
    assert r.status_code == 201, r.text
    await smart_sign_in(client, cid)
    r = await client.get("/api/patient/session")
    assert r.json()["signed_in"] and r.json()["cid"] == cid, r.text
    token: str = r.json()["csrf"]
    return token


async def smart_sign_in(client: httpx.AsyncClient, cid: str) -> httpx.Response:
    """To the auth service's sign-in page and back through ``/patient/callback``."""
    smart: FakePatientSmart = client.smart  # type: ignore[attr-defined]
    smart.cid = cid
    r = await client.get("/patient/signin")
    assert r.status_code == 303, r.text
    state = smart.requests[-1]["state"]
    r = await client.get("/patient/callback", params={"state": state, "code": smart.approve()})
    assert r.status_code == 303 and r.headers["location"] == "/patient/", r.headers
    return r


async def test_the_patient_pages_are_served_under_the_strict_csp(
    client: httpx.AsyncClient,
) -> None:
    for path in (
        "/patient",
        "/patient/",
        "/patient/consent",
        "/patient/accesses",
        "/patient/inbox",
    ):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-security-policy"] == CSP
        assert "<script>" not in r.text and not re.search(r"\son[a-z]+=", r.text)
        assert 'name="viewport"' in r.text  # phone-width screens
    assert (await client.get("/patient/elsewhere")).status_code == 404
    for name in ("core", "main", "consent", "activity"):
        r = await client.get(f"/static/patient/{name}.js")
        assert r.status_code == 200 and "innerHTML" not in r.text, name
    for path in ("/static/common/phone.css", "/i18n/patient.th.json", "/i18n/patient.en.json"):
        assert (await client.get(path)).status_code == 200, path


def test_both_patient_catalogues_have_the_same_keys_and_the_faq_s_words() -> None:
    th = json.loads((WEB / "i18n" / "patient.th.json").read_text())
    en = json.loads((WEB / "i18n" / "patient.en.json").read_text())
    assert set(th) == set(en)
    html = (WEB / "patient.html").read_text()
    used = {part.split('"')[1] for part in html.split("data-i18n=")[1:]}
    used |= {part.split('"')[1] for part in html.split("data-i18n-label=")[1:]}
    assert used <= set(th)
    scripts = "".join(p.read_text() for p in (WEB / "static" / "patient").glob("*.js"))
    literal = set(re.findall(r"t\('([a-z][a-z-]*\.[a-z_.-]+)'", scripts))
    assert literal <= set(th), literal - set(th)
    assert th["cat.allergy"] == "ข้อมูลการแพ้ยา"


async def test_register_then_sign_in_keeps_the_patient_token_on_the_server(
    client: httpx.AsyncClient, backends: FakePatientApi
) -> None:
    csrf = await page_csrf(client)
    r = await client.post(
        "/api/patient/register",
        json={"cid": CID, "birth_date": "1980-05-17"},
        headers={"x-csrf-token": csrf},
    )
    assert r.status_code == 201 and r.json() == {"cid": CID, "registered": True}
    assert "hl_patient" not in r.headers.get("set-cookie", "")
    r = await smart_sign_in(client, CID)
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("hl_patient="))
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered
    assert "path=/api/patient" in lowered
    assert "patient-smart-token" not in r.text + r.headers["location"]
    r = await client.get("/api/patient/session")
    assert r.json()["signed_in"] and "patient-smart-token" not in r.text
    assert "dev_verifier" not in r.json()
    assert r.headers["cache-control"] == "no-store"
    r = await client.get("/api/patient/consent")
    assert r.status_code == 200 and "patient-smart-token" not in r.text
    assert backends.calls[0] == ("register", CID)


async def test_the_old_verify_form_is_gone(client: httpx.AsyncClient) -> None:
    """Consent's verification answers only the auth service's wallet (issue 12): the page
    has no face-scan form and the portal no route that posts one."""
    r = await client.post(
        "/api/patient/verify",
        json={"cid": CID, "scan": DEV_SCAN},
        headers={"x-csrf-token": await page_csrf(client)},
    )
    assert r.status_code in (404, 405), r.text
    page = (await client.get("/patient/")).text
    assert 'id="verify-form"' not in page and 'href="/patient/signin"' in page


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"cid": "1101700230709", "birth_date": "1980-01-01"}, 400, "invalid-cid"),
        ({"cid": CID, "birth_date": "2015-01-01"}, 400, "under-age"),
        ({"cid": "12345", "birth_date": "1980-01-01"}, 400, None),
        ({"cid": CID, "birth_date": "not a date"}, 400, None),
    ],
)
async def test_registration_refusals_carry_a_code_the_page_translates(
    client: httpx.AsyncClient, form: dict[str, str], status: int, code: str | None
) -> None:
    r = await client.post(
        "/api/patient/register", json=form, headers={"x-csrf-token": await page_csrf(client)}
    )
    assert r.status_code == status, r.text
    if code:
        assert r.json()["error"] == code


async def test_registering_twice_is_told_apart(
    client: httpx.AsyncClient,
) -> None:
    csrf = await page_csrf(client)
    form = {"cid": CID, "birth_date": "1980-05-17"}
    headers = {"x-csrf-token": csrf}
    assert (await client.post("/api/patient/register", json=form, headers=headers)).is_success
    r = await client.post("/api/patient/register", json=form, headers=headers)
    assert r.status_code == 409 and r.json()["error"] == "already-registered"


CHANGES = [
    ("POST", "/api/patient/consent/hospitals", {"code": "10670"}),
    ("DELETE", "/api/patient/consent/hospitals/10670", None),
    ("PUT", "/api/patient/consent/all", {"on": True}),
    ("PUT", "/api/patient/consent/sensitive", {"on": True}),
    (
        "POST",
        "/api/patient/consent/visits",
        {"requesting_hospital": "11535", "sources": ["10670"], "until": "2026-06-01T10:00"},
    ),
    ("DELETE", "/api/patient/consent/visits/visit0", None),
    ("DELETE", "/api/patient/consent", None),
    ("POST", "/api/patient/inbox/n1/read", None),
    ("POST", "/api/patient/session/end", None),
    ("POST", "/api/patient/language", {"lang": "en"}),
]


@pytest.mark.parametrize(("method", "path", "body"), CHANGES, ids=[c[1] for c in CHANGES])
@pytest.mark.parametrize(
    "headers",
    [{}, {"x-csrf-token": "forged"}, {"origin": "https://evil.example"}],
    ids=["no-token", "wrong-token", "other-origin"],
)
async def test_every_change_needs_the_page_s_csrf_token_and_origin(
    client: httpx.AsyncClient,
    backends: FakePatientApi,
    method: str,
    path: str,
    body: dict[str, object] | None,
    headers: dict[str, str],
) -> None:
    token = await verified(client)
    if "origin" in headers:
        headers = {**headers, "x-csrf-token": token}
    before = list(backends.calls)
    r = await client.request(method, path, json=body, headers=headers)
    assert r.status_code == 403 and r.json()["error"] == "csrf"
    assert backends.calls == before
    assert (await client.get("/api/patient/session")).json()["signed_in"]


async def test_consent_per_hospital_all_sensitive_and_everything_withdrawn(
    client: httpx.AsyncClient,
) -> None:
    headers = {"x-csrf-token": await verified(client)}
    r = await client.get("/api/patient/consent")
    assert r.status_code == 200
    view = r.json()
    assert [h["name"] for h in view["hospitals"]] == [
        "Nopparat Hospital",
        "Ramathibodi Hospital",
        "Siriraj Hospital",
    ]
    nopparat = view["hospitals"][0]
    assert (nopparat["role"], nopparat["consent_mode"]) == ("consumer", "per-visit")
    assert not any(h["chosen"] for h in view["hospitals"])

    r = await client.post("/api/patient/consent/hospitals", json={"code": "10670"}, headers=headers)
    chosen = {h["code"]: (h["chosen"], h["covered"]) for h in r.json()["hospitals"]}
    assert chosen == {"10670": (True, True), "11535": (False, False), "13781": (False, False)}
    r = await client.put("/api/patient/consent/all", json={"on": True}, headers=headers)
    assert r.json()["all_hospitals"] and all(h["covered"] for h in r.json()["hospitals"])
    r = await client.put("/api/patient/consent/sensitive", json={"on": True}, headers=headers)
    assert r.json()["allow_sensitive"]
    r = await client.delete("/api/patient/consent/hospitals/10670", headers=headers)
    assert not any(h["chosen"] for h in r.json()["hospitals"]) and r.json()["all_hospitals"]
    r = await client.delete("/api/patient/consent", headers=headers)
    assert r.status_code == 200
    assert not r.json()["all_hospitals"] and r.json()["allow_sensitive"]
    r = await client.post("/api/patient/consent/hospitals", json={"code": "99999"}, headers=headers)
    assert r.status_code == 404 and r.json()["error"] == "hospital-not-found"
    r = await client.post("/api/patient/consent/hospitals", json={"code": "1067"}, headers=headers)
    assert r.status_code == 400


async def test_a_per_visit_consent_ends_in_thai_time_and_can_be_ended_now(
    client: httpx.AsyncClient, backends: FakePatientApi
) -> None:
    headers = {"x-csrf-token": await verified(client)}
    visit = {
        "requesting_hospital": "11535",
        "sources": ["10670", "13781"],
        "until": "2026-06-01T10:00",
    }
    r = await client.post("/api/patient/consent/visits", json=visit, headers=headers)
    assert r.status_code == 201, r.text
    [shown] = r.json()["visits"]
    assert shown["live"] and shown["requesting_name"] == "Nopparat Hospital"
    assert [s["name"] for s in shown["sources"]] == ["Siriraj Hospital", "Ramathibodi Hospital"]
    assert backends.consents[CID]["per_visit"][0]["until"] == "2026-06-01T03:00:00+00:00"
    r = await client.delete(f"/api/patient/consent/visits/{shown['id']}", headers=headers)
    [ended] = r.json()["visits"]
    assert ended["revoked"] and not ended["live"]
    r = await client.delete("/api/patient/consent/visits/nope", headers=headers)
    assert r.status_code == 404 and r.json()["error"] == "visit-not-found"
    r = await client.post(
        "/api/patient/consent/visits", json={**visit, "sources": []}, headers=headers
    )
    assert r.status_code == 400


def access(n: int, **fields: object) -> dict[str, object]:
    return {
        "id": f"a{n}",
        "time": "2026-05-28T03:00:00+00:00",
        "physician": "40771",
        "physician_name": "นพ. ทดสอบ",
        "hospital": "10670",
        "purpose": "TREAT",
        "categories": ["allergy", "diagnosis"],
        "decision": "permit",
        "reason": "consent",
        "break_glass": False,
        "break_glass_reason": None,
        "count": 7,
        **fields,
    }


async def test_who_viewed_my_record_names_the_hospital_break_glass_and_refusals(
    client: httpx.AsyncClient, backends: FakePatientApi
) -> None:
    await verified(client)
    backends.access_log[CID] = [
        access(1, purpose="ETREAT", break_glass=True, break_glass_reason="unconscious in ER"),
        access(2, decision="deny", reason="patient has not consented", categories=[], count=0),
        *[access(n) for n in range(3, PAGE + 5)],
    ]
    r = await client.get("/api/patient/accesses")
    assert r.status_code == 200
    body = r.json()
    assert len(body["entries"]) == PAGE and body["more"]
    glass, denied, plain = body["entries"][:3]
    assert glass["break_glass"] and glass["break_glass_reason"] == "unconscious in ER"
    assert glass["purpose"] == "emergency" and glass["hospital_name"] == "Siriraj Hospital"
    assert denied["decision"] == "deny" and denied["reason"] == "no-consent"
    assert plain["reason"] is None and plain["categories"] == ["allergy", "diagnosis"]
    assert plain["physician_name"] == "นพ. ทดสอบ" and plain["count"] == 7
    r = await client.get(f"/api/patient/accesses?offset={PAGE}")
    assert len(r.json()["entries"]) == 4 and not r.json()["more"]
    assert (await client.get("/api/patient/accesses?offset=-1")).status_code == 400


async def test_the_inbox_in_both_languages_and_marking_read(
    client: httpx.AsyncClient, backends: FakePatientApi
) -> None:
    headers = {"x-csrf-token": await verified(client)}
    backends.notes[CID] = [
        {
            "id": "access-e1",
            "kind": "record-accessed",
            "created_at": "2026-05-28T03:00:00+00:00",
            "title_th": "มีการเข้าดูข้อมูลของท่าน",
            "body_th": "…",
            "title_en": "Your record was viewed",
            "body_en": "…",
            "data": {"physician": "40771"},
            "read": False,
        }
    ]
    r = await client.get("/api/patient/inbox")
    [note] = r.json()["entries"]
    assert note["title_en"] == "Your record was viewed" and not note["read"]
    assert "data" not in note
    r = await client.post("/api/patient/inbox/access-e1/read", headers=headers)
    assert r.status_code == 200
    assert (await client.get("/api/patient/inbox")).json()["entries"][0]["read"]
    r = await client.post("/api/patient/inbox/nope/read", headers=headers)
    assert r.status_code == 404 and r.json()["error"] == "notification-not-found"


async def test_without_a_session_nothing_is_read_and_sign_out_ends_it(
    client: httpx.AsyncClient, backends: FakePatientApi
) -> None:
    for path in ("/api/patient/consent", "/api/patient/accesses", "/api/patient/inbox"):
        r = await client.get(path)
        assert r.status_code == 401 and r.json()["error"] == "signed-out", path
    csrf = await verified(client)
    r = await client.post("/api/patient/session/end", headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and not r.json()["signed_in"]
    assert (await client.get("/api/patient/consent")).status_code == 401
    assert [c for c in backends.calls if c[0] != "register"] == []


async def test_a_session_ends_with_its_lifetime_or_when_the_token_is_refused(
    client: httpx.AsyncClient, backends: FakePatientApi, clock: Clock
) -> None:
    await verified(client)
    clock.now += 601
    assert (await client.get("/api/patient/consent")).status_code == 401
    await verified(client, "3100503368591")
    backends.tokens.clear()  # the consent service no longer takes the token
    assert (await client.get("/api/patient/consent")).status_code == 401
    assert not (await client.get("/api/patient/session")).json()["signed_in"]


async def test_a_back_end_down_is_a_503_not_a_500(
    client: httpx.AsyncClient, backends: FakePatientApi
) -> None:
    await verified(client)
    backends.down = True
    r = await client.get("/api/patient/hospitals")
    assert r.status_code == 503 and r.json()["error"] == "unavailable"
    r = await client.get("/api/patient/consent")
    assert r.status_code == 503


async def test_the_patient_and_the_physician_sessions_are_apart(
    client: httpx.AsyncClient,
) -> None:
    await verified(client)
    assert not (await client.get("/api/session")).json()["signed_in"]
    r = await client.get("/api/patients/1101700230708/record")
    assert r.status_code == 401


async def test_a_suspended_hospital_and_one_that_left_are_shown_as_such(
    client: httpx.AsyncClient, backends: FakePatientApi
) -> None:
    headers = {"x-csrf-token": await verified(client)}
    await client.post("/api/patient/consent/hospitals", json={"code": "13781"}, headers=headers)
    backends.consents[CID]["hospitals"].append("99998")  # chosen, then gone from the list
    suspended = [{**h, "active": h["code"] != "13781"} for h in HOSPITALS]
    backends.listed = suspended
    rows = {h["code"]: h for h in (await client.get("/api/patient/consent")).json()["hospitals"]}
    assert not rows["13781"]["active"] and rows["13781"]["chosen"]
    assert rows["99998"] == {
        "code": "99998",
        "name": "99998",
        "role": None,
        "consent_mode": None,
        "active": False,
        "joined_at": None,
        "chosen": True,
        "covered": True,
    }


async def test_the_public_hospital_list_shows_role_and_consent_mode(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/api/patient/hospitals")
    assert r.status_code == 200
    assert {(h["code"], h["role"], h["consent_mode"]) for h in r.json()["hospitals"]} == {
        ("10670", "provider", "standing"),
        ("11535", "consumer", "per-visit"),
        ("13781", "provider", "standing"),
    }


def outcome(status: int, diagnostics: str) -> httpx.Response:
    issue = {"severity": "error", "code": "processing", "diagnostics": diagnostics}
    return httpx.Response(status, json={"resourceType": "OperationOutcome", "issue": [issue]})


async def test_the_http_back_ends_get_the_patient_s_token_and_their_refusals_become_codes() -> None:
    seen: list[tuple[str, str, str | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.headers.get("authorization")))
        path = request.url.path
        if path.endswith("/consent/hospitals"):
            return outcome(404, "hospital 99999 is not a participating hospital")
        if path == "/patients":
            return outcome(429, "ขออภัยค่ะ …")
        if path.endswith("/inbox"):
            return outcome(502, "bad gateway")
        if path.endswith("/accesses"):
            return httpx.Response(200, json={"entries": [{"id": "a1"}]})
        raise httpx.ConnectError("refused")

    api = HttpPatientApi(
        "http://consent", "http://audit", "http://notify", 5, httpx.MockTransport(answer)
    )
    with pytest.raises(NotFound) as missing:
        await api.grant_hospital("tok", CID, "99999")
    assert missing.value.code == "hospital-not-found"
    with pytest.raises(Unavailable):  # a status the portal does not expect
        await api.register(CID, "1980-01-01")
    with pytest.raises(Unavailable):
        await api.inbox("tok", CID, 0, 21)
    with pytest.raises(Unavailable):
        await api.hospitals()
    assert await api.accesses("tok", CID, 20, 21) == [{"id": "a1"}]
    await api.aclose()
    assert ("GET", f"http://audit/patients/{CID}/accesses?offset=20&count=21", "Bearer tok") in seen
    assert ("POST", f"http://consent/patients/{CID}/consent/hospitals", "Bearer tok") in seen


@pytest.mark.parametrize(
    ("status", "detail", "code"),
    [
        (400, "patients must be 18 or older to join", "under-age"),
        (400, "birth date is in the future", "invalid-birth-date"),
        (400, "until is in the past", "until-in-past"),
        (400, "a per-visit consent lasts at most 90 days", "until-too-far"),
        (404, "no patient registered with this CID", "not-registered"),
        (404, "no such per-visit consent (it may have expired)", "visit-not-found"),
        (409, "this CID is already registered", "already-registered"),
        (409, "too many concurrent changes; try again", "conflict"),
        (401, "token expired", "signed-out"),
        (400, "something new", "invalid"),
        (500, "internal error", "unavailable"),
    ],
)
def test_the_back_ends_refusals_map_to_the_page_s_codes(
    status: int, detail: str, code: str
) -> None:
    assert outcome_error(status, detail).code == code
