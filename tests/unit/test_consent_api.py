"""The consent HTTP API over in-memory fakes: statuses, messages, FHIR Consent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent

from services.consent.app import create_app
from services.consent.fakes import MemoryConsentRepository
from services.consent.handlers import Deps
from services.consent.settings import ConsentSettings
from shared.broker import RecordingPublisher
from tests.support import system_tokens
from tests.support.cids import CID, OTHER

pytestmark = pytest.mark.unit
OPERATOR = {"authorization": "Bearer op-token"}
GOOD = {"scan": "dev-face-scan-ok"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = ConsentSettings(environment="test", token_secret="s", admin_token="op-token")
    deps = Deps(
        repo=MemoryConsentRepository(),
        publisher=RecordingPublisher(),
        clock=lambda: datetime.now(UTC),
    )
    app = create_app(settings, deps=deps)  # the lifespan (broker, database) never starts
    app.state.token_verifier = system_tokens.verifier()  # the auth service's tokens
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for code, role in (("10670", "provider"), ("11535", "consumer")):
            r = await http.post(
                "/hospitals", headers=OPERATOR, json={"code": code, "name": code, "role": role}
            )
            assert r.status_code == 201, r.text
        yield http


async def patient(http: httpx.AsyncClient, cid: str = CID) -> dict[str, str]:
    r = await http.post("/patients", json={"cid": cid, "birth_date": "1980-05-17"})
    assert r.status_code == 201, r.text
    r = await http.post(f"/patients/{cid}/verify", json=GOOD, headers=system_tokens.wallet())
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"cid", "verified_at"}, "consent issues no patient token"
    return system_tokens.bearer(system_tokens.patient_token(cid))


async def test_bad_input_gets_a_clear_4xx(client: httpx.AsyncClient) -> None:
    me = await patient(client)
    cases = [
        ("post", "/patients", {"cid": "1234567890123", "birth_date": "1980-01-01"}, 400, "CID"),
        ("post", f"/patients/{OTHER}/verify", {"scan": "x"}, 403, "wallet"),
        ("post", f"/patients/{CID}/consent/hospitals", {"hospitals": ["99999"]}, 404, "99999"),
        ("post", f"/patients/{OTHER}/consent/hospitals", {"hospitals": ["10670"]}, 403, "own"),
        ("delete", f"/patients/{CID}/consent/visits/nope", None, 404, "per-visit"),
        ("patch", "/hospitals/99999", {"name": "x"}, 403, "operator"),
    ]
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    visit = {"requesting_hospital": "11535", "sources": ["10670"], "until": past}
    cases.append(("post", f"/patients/{CID}/consent/visits", visit, 400, "past"))
    naive = {**visit, "until": "2099-01-01T10:00:00"}
    cases.append(("post", f"/patients/{CID}/consent/visits", naive, 400, "timezone"))
    for method, url, body, status, words in cases:
        r = await client.request(method, url, json=body, headers=me)
        assert r.status_code == status, (url, r.text)
        assert words.lower() in r.json()["issue"][0]["diagnostics"].lower(), r.text


async def test_only_the_auth_services_wallet_may_verify(client: httpx.AsyncClient) -> None:
    """Issue 12: without the wallet's token nobody uses up a patient's attempts."""
    me = await patient(client)
    url, wrong = f"/patients/{CID}/verify", {"scan": "not-me"}
    forged = system_tokens.wallet_token(roles=[])
    impostor = system_tokens.wallet_token(client_id="someone", sub="someone")
    no_session = system_tokens.bearer(system_tokens.wallet_token())
    refusals = [
        ({}, 401, "wallet token"),
        (system_tokens.bearer("not-a-token"), 401, "wallet token"),
        (system_tokens.bearer(system_tokens.system_token("10670")), 403, "wallet"),
        (me, 403, "wallet"),
        (system_tokens.bearer(forged), 403, "wallet"),
        (system_tokens.bearer(impostor), 403, "wallet"),
        (no_session, 400, "hl-wallet-session"),
        ({**no_session, "hl-wallet-session": "x" * 33}, 400, "hl-wallet-session"),
    ]
    for headers, status, words in refusals * 2:
        r = await client.post(url, json=wrong, headers=headers)
        assert r.status_code == status, (headers, r.text)
        assert words in r.json()["issue"][0]["diagnostics"], r.text
        assert ("www-authenticate" in r.headers) == (status == 401)
    r = await client.post(f"/patients/{OTHER}/verify", json=wrong, headers=system_tokens.wallet())
    assert r.status_code == 404, r.text
    statuses = []  # the patient's 5 attempts are all still there
    for _ in range(6):
        r = await client.post(url, json=wrong, headers=system_tokens.wallet())
        statuses.append(r.status_code)
    assert statuses == [401] * 5 + [429]
    assert "www-authenticate" not in r.headers


async def test_verification_refused_on_the_sixth_attempt(client: httpx.AsyncClient) -> None:
    await patient(client)
    statuses = []
    for _ in range(6):
        r = await client.post(
            f"/patients/{CID}/verify", json={"scan": "not-me"}, headers=system_tokens.wallet()
        )
        statuses.append(r.status_code)
    assert statuses == [401] * 5 + [429]
    assert "เกิน 5 ครั้ง" in r.json()["issue"][0]["diagnostics"]


async def test_consents_read_as_valid_fhir_r4_consent(client: httpx.AsyncClient) -> None:
    me = await patient(client)
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = await client.post(
        f"/patients/{CID}/consent/visits",
        headers=me,
        json={"requesting_hospital": "11535", "sources": ["10670"], "until": until},
    )
    assert r.status_code == 201, r.text
    await client.post(
        f"/patients/{CID}/consent/hospitals", headers=me, json={"hospitals": ["10670"]}
    )
    r = await client.get("/fhir/Consent", params={"patient": CID}, headers=me)
    bundle = Bundle.model_validate(r.json())
    assert bundle.total == 2
    standing = Consent.model_validate(r.json()["entry"][0]["resource"])
    assert standing.status == "active"
    assert standing.provision.actor[0].reference.identifier.value == "10670"
    visit_id = r.json()["entry"][1]["resource"]["id"]
    one = await client.get(f"/fhir/Consent/{visit_id}", headers=me)
    assert Consent.model_validate(one.json()).provision.period.end is not None
    other = await patient(client, OTHER)
    assert (await client.get(f"/fhir/Consent/{visit_id}", headers=other)).status_code == 403


async def test_the_public_hospital_list_and_a_provider_upgrade(client: httpx.AsyncClient) -> None:
    r = await client.patch("/hospitals/11535", headers=OPERATOR, json={"role": "provider"})
    assert r.status_code == 200 and r.json()["provider_since"]
    listed = (await client.get("/hospitals")).json()["hospitals"]
    assert {(h["code"], h["role"], h["consent_mode"]) for h in listed} == {
        ("10670", "provider", "standing"),
        ("11535", "provider", "standing"),
    }
    assert all("admin_key_sha256" not in h for h in listed), "the hash is not shown"
    r = await client.get("/hospitals/11535/credentials", headers=OPERATOR)
    assert r.status_code == 404, "no credential can be read again: rotate the admin key"
