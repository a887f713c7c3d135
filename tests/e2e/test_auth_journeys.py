"""The auth service as a real process with the others: a patient registered at consent
signs in through the wallet flow (code from the development sender's file, face scan
checked by consent's verification) and gets a token bound to their CID; the
development operator's key, written at start, gets a backend token; the portal's
sign-out revokes its refresh token there (RFC 7009)."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from healthlink_adapter import KafkaUploader
from healthlink_adapter.smart import ASSERTION_TYPE, client_assertion
from joserfc.jwk import ECKey

from healthlink.authtokens import physician_token
from healthlink.synthetic import make_patient_bundle
from services.portal.app import create_app as portal_app
from services.portal.settings import PortalSettings
from shared.auth import TokenVerifier
from shared.cid import random_cid
from shared.kafka_admin import hospital_connection
from shared.settings import Settings
from tests.support.auth import REDIRECT, Browser, backend_form, code_of, pkce
from tests.support.journey import Actors, eventually
from tests.support.searchsets import records_of

pytestmark = pytest.mark.e2e
DEV_SCAN = "dev-face-scan-ok"


async def operator_token(ops: Actors) -> str:
    key_file = ops.platform.log_dir / "auth" / "dev-operator.jwk"
    key = ECKey.import_key(json.loads(key_file.read_text()))
    token_url = ops.url("auth", "/token")
    form = backend_form(key, "dev-operator", token_url, "system/Practitioner.cruds")
    r = await ops.http.post(token_url, data=form)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def launch(ops: Actors, client: str, audience: str, lang: str) -> tuple[Browser, str]:
    """A SMART app's standalone launch to the sign-in page (code flow with PKCE)."""
    verifier, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": client,
        "redirect_uri": REDIRECT,
        "scope": "openid fhirUser launch/patient patient/*.rs",
        "state": client,
        "aud": audience,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "ui_locales": lang,
    }
    browser = Browser(ops.http)
    r = await browser.open(ops.url("auth", "/authorize?") + urlencode(query))
    assert r.status_code == 200, r.text
    return browser, verifier


async def exchange(ops: Actors, client: str, code: str, verifier: str) -> httpx.Response:
    """The app trades the code (and its PKCE verifier) for tokens."""
    return await ops.http.post(
        ops.url("auth", "/token"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client,
            "code_verifier": verifier,
        },
    )


async def test_a_patient_signs_in_from_the_wallet(actors: Actors) -> None:
    ops = actors
    op = {"authorization": f"Bearer {await operator_token(ops)}"}
    r = await ops.http.post(
        ops.url("auth", "/clients"),
        headers=op,
        json={"kind": "smart-app", "client_id": "wallet-e2e", "redirect_uris": [REDIRECT]},
    )
    assert r.status_code in (201, 409), r.text
    cid = random_cid(random.Random())
    r = await ops.http.post(
        ops.url("consent", "/patients"), json={"cid": cid, "birth_date": "1980-05-17"}
    )
    assert r.status_code == 201, r.text
    audience = ops.url("query", "/fhir")
    browser, verifier = await launch(ops, "wallet-e2e", audience, "en")

    async def code_sent() -> bool:
        r = await browser.post(ops.url("auth", "/authorize/patient/code"), cid=cid)
        return r.status_code == 200  # 404 until auth heard of the registration

    await eventually(code_sent, what="the registration reached auth")
    code = (ops.platform.log_dir / "otp" / f"{cid}.txt").read_text().strip()
    r = await browser.post(ops.url("auth", "/authorize/patient/session"), code=code)
    assert r.status_code == 200 and 'name="scan"' in r.text, r.text
    r = await browser.post(ops.url("auth", "/authorize/patient/scan"), scan="not me")
    assert r.status_code == 401, "consent's verification refused the scan"
    r = await browser.post(ops.url("auth", "/authorize/patient/scan"), scan=DEV_SCAN)
    back = code_of(r)
    token = await exchange(ops, "wallet-e2e", back["code"], verifier)
    assert token.status_code == 200, token.text
    assert token.json()["patient"] == cid
    check = TokenVerifier(
        issuer=ops.url("auth", ""),
        audience=audience,
        jwks_url=ops.url("auth", "/.well-known/jwks.json"),
    )
    principal = await check.verify(token.json()["access_token"])
    assert principal.patient == cid and principal.fhir_user == f"Patient/{cid}"
    assert principal.may("Observation", "r", ("patient",))
    assert not principal.may("Observation", "r", ("user", "system"))
    # the patient reads their own record at the query service with it, and no other
    mine = token.json()["access_token"]
    r = await ops.everything(mine, cid)
    assert r.status_code == 200 and r.json()["resourceType"] == "Bundle", r.text
    stranger = random_cid(random.Random())
    r = await ops.everything(mine, stranger)
    assert r.status_code == 403, r.text
    # and takes a portable copy (FHIR Bulk Data): kick-off, manifest
    r = await ops.http.get(
        ops.url("query", f"/fhir/Patient/{cid}/$export"),
        headers={"authorization": f"Bearer {mine}", "prefer": "respond-async"},
    )
    assert r.status_code == 202, r.text
    r = await ops.http.get(
        r.headers["content-location"], headers={"authorization": f"Bearer {mine}"}
    )
    assert r.status_code == 200 and r.json()["requiresAccessToken"] is True, r.text


async def test_a_physicians_smart_app_reads_at_the_bedside(
    actors: Actors, settings: Settings
) -> None:
    """SMART App Launch 2 end to end: the physician signs in at the auth service (licence,
    PIN, hospital), launches with a patient, and the app reads that patient's consented
    records from the query service with the access token it got — no other token."""
    ops, rng = actors, random.Random(77)
    hospital = await ops.hospital("10690", "Ramathibodi Hospital")  # its own code
    cid, patient_token = await ops.patient(rng)
    await ops.consent(cid, patient_token, [hospital.code])
    await ops.physician(hospital, "40077")  # query's own roster (until phase 2b)
    async with KafkaUploader(
        await hospital_connection(settings, hospital.code),
        hospital.code,
        hospital.signer,
        settings.topic_prefix,
    ) as adapter:
        bundle = make_patient_bundle(
            rng, cid=cid, hospital_code=hospital.code, n_resources=20, sensitive_fraction=0.0
        )
        await adapter.send(bundle)

    op = {"authorization": f"Bearer {await operator_token(ops)}"}
    r = await ops.http.post(
        ops.url("auth", "/licences"),
        headers=op,
        json={"licence": "40077", "name": "Dr. Bedside", "pin": "4321"},
    )
    assert r.status_code in (201, 409), r.text

    async def on_roster() -> bool:  # auth learns of the hospital from its event
        r = await ops.http.post(
            ops.url("auth", f"/hospitals/{hospital.code}/physicians"),
            headers=op,
            json={"licence": "40077"},
        )
        return r.status_code in (200, 201)

    await eventually(on_roster, what="the physician on auth's roster")
    r = await ops.http.post(
        ops.url("auth", "/clients"),
        headers=op,
        json={"kind": "smart-app", "client_id": "bedside-e2e", "redirect_uris": [REDIRECT]},
    )
    assert r.status_code in (201, 409), r.text
    browser, verifier = await launch(ops, "bedside-e2e", ops.url("query", "/fhir"), "th")
    r = await browser.post(
        ops.url("auth", "/authorize/physician"), licence="40077", pin="4321", hospital=hospital.code
    )
    assert r.status_code == 200, r.text

    async def launched() -> dict[str, str] | None:  # auth learns of the patient from consent
        r = await browser.post(ops.url("auth", "/authorize/launch"), cid=cid)
        return code_of(r) if r.status_code in (302, 303) else None

    back = await eventually(launched, what="the patient known to auth")
    token = await exchange(ops, "bedside-e2e", back["code"], verifier)
    assert token.status_code == 200 and token.json()["patient"] == cid, token.text
    smart = str(token.json()["access_token"])
    body = await ops.records(smart, cid, at_least=20)
    assert {e["resource"]["meta"]["source"].rsplit(":", 1)[1] for e in records_of(body)} == {
        hospital.code
    }
    # the same as a developer gets it: `healthlink auth physician-token` (user/*.rs)
    cli = await asyncio.to_thread(
        physician_token,
        ops.url("auth", ""),
        ops.url("query", "/fhir"),
        await operator_token(ops),
        {"licence": "40077", "pin": "4321", "hospital": hospital.code},
        "",
        "openid fhirUser user/*.rs",
    )
    assert (await ops.records(str(cli["access_token"]), cid, at_least=20))["total"] >= 20
    other, _ = await ops.patient(rng)
    r = await ops.everything(smart, other)
    assert r.status_code == 403 and "do not cover this patient" in r.text, r.text


async def test_the_portals_sign_out_revokes_its_refresh_token(
    actors: Actors, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The viewer's sign-in and sign-out on the real auth service: the portal (in this
    process, with its real HTTP back ends and the key the auth service gave it) walks
    the sign-in, holds a refresh token, signs out; the auth service then refuses that
    refresh token (``invalid_grant``) though the portal's client authentication holds."""
    ops = actors
    hospital = await ops.hospital("10697", "Nakhon Pathom Hospital")  # its own code
    await ops.smart_physician(hospital, "40097", "4321")
    for name, value in ops.platform.env("portal").items():
        if name.startswith("HEALTHLINK_"):
            monkeypatch.setenv(name, value)
    settings = PortalSettings()
    app = portal_app(settings)
    transport = httpx.ASGITransport(app=app)
    portal = httpx.AsyncClient(transport=transport, base_url="http://portal.test")
    async with app.router.lifespan_context(app), portal:
        r = await portal.get("/signin", headers={"accept-language": "en"})
        assert r.status_code == 303, r.text
        browser = Browser(ops.http)
        assert (await browser.open(r.headers["location"])).status_code == 200, browser.page
        r = await browser.post(
            ops.url("auth", "/authorize/physician"),
            licence="40097",
            pin="4321",
            hospital=hospital.code,
        )
        back = code_of(r)
        r = await portal.get("/callback", params={"state": back["state"], "code": back["code"]})
        assert r.status_code == 303 and r.headers["location"] == "/", r.headers
        body = (await portal.get("/api/session")).json()
        assert body["signed_in"] and body["licence"] == "40097", body
        session = await app.state.deps.sessions.find(portal.cookies["hl_session"])
        refresh = session.refresh_token
        assert refresh, "the viewer asks for online_access: a refresh token is held"
        r = await portal.post("/api/session/end", headers={"x-csrf-token": body["csrf"]})
        assert r.status_code == 200 and not r.json()["signed_in"]

    key_file = Path(settings.data_dir) / "auth" / f"{settings.portal_client}.jwk"
    key = ECKey.import_key(json.loads(key_file.read_text()))
    token_url = ops.url("auth", "/token")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(key, settings.portal_client, token_url),
    }
    r = await ops.http.post(token_url, data=form)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.status_code
