"""The auth service in-process (its real lifespan) on the real Kafka and database:
hundreds of parallel wrong PINs, throttles, a SMART standalone launch driven by
authlib's own OAuth client, backend services, refresh rotation and reuse, revocation
and introspection, and tokens checked by ``shared/auth.py``."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import FastAPI
from joserfc.jwk import ECKey

from services.auth.app import create_app
from services.auth.handlers import Deps
from services.auth.settings import AuthSettings
from shared import topics
from shared.auth import TokenVerifier
from shared.coverage import HospitalState
from shared.errors import Unauthorized
from shared.events import (
    HospitalRegistered,
    LicenceChanged,
    OperatorActed,
    PatientRegistered,
    PhysicianAdded,
    RosterChanged,
)
from shared.settings import Settings
from tests.support.auth import (
    AUDIENCE,
    ISSUER,
    REDIRECT,
    Browser,
    backend_form,
    code_of,
    hidden_fields,
    make_cid,
    new_key,
    public_jwks,
)
from tests.support.events import envelope
from tests.support.journey import eventually
from tests.support.kafka import publish_raw, read_events
from tests.support.settings import settings_for

pytestmark = pytest.mark.integration
LICENCE, PIN, HOSPITAL = "24680", "8642", "10670"
PATIENT = make_cid("310170012345")
WIDE_OPEN = {"auth_throttle_per_address": "100000/minute", "auth_throttle_global": "100000/minute"}


@dataclass
class Auth:
    app: FastAPI
    http: httpx.AsyncClient
    settings: AuthSettings
    operator: ECKey

    @property
    def deps(self) -> Deps:
        deps: Deps = self.app.state.deps
        return deps

    async def operator_headers(self) -> dict[str, str]:
        form = backend_form(
            self.operator, "dev-operator", f"{ISSUER}/token", "system/Practitioner.cruds"
        )
        r = await self.http.post("/token", data=form)
        assert r.status_code == 200, r.text
        return {"authorization": f"Bearer {r.json()['access_token']}"}

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(
            issuer=ISSUER,
            audience=AUDIENCE,
            jwks_url=f"{ISSUER}/.well-known/jwks.json",
            fetch=self.fetch_jwks,
        )

    async def fetch_jwks(self, url: str) -> dict[str, Any]:
        found: dict[str, Any] = (await self.http.get(url)).json()
        return found


async def started(settings: Settings, tmp: Path, **overrides: Any) -> AsyncIterator[Auth]:
    values = {
        "auth_issuer": ISSUER,
        "auth_audience": AUDIENCE,
        "data_dir": str(tmp),
        "auth_bootstrap_operator": "dev-operator",
        **overrides,
    }
    auth_settings: AuthSettings = settings_for("auth", settings, **values)
    app = create_app(auth_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER, timeout=60) as http:
            key = ECKey.import_key(json.loads((tmp / "auth" / "dev-operator.jwk").read_text()))
            yield Auth(app, http, auth_settings, key)


async def seeded(auth: Auth) -> None:
    """A provider hospital and a registered patient (from Kafka), a licence on its roster."""
    state = HospitalState(code=HOSPITAL, name="Hospital", role="provider")
    hospital = envelope(HospitalRegistered(version=1, state=state), HOSPITAL)
    patient = envelope(
        PatientRegistered(
            cid=PATIENT, birth_date="1980-01-01", registered_at="2026-01-01T00:00:00+00:00"
        ),
        PATIENT,
    )
    for topic, event in ((topics.HOSPITAL_EVENTS, hospital), (topics.CONSENT_EVENTS, patient)):
        await publish_raw(
            auth.settings, topic, event.model_dump_json().encode(), key=event.subject.encode()
        )
    op = await auth.operator_headers()
    r = await auth.http.post(
        "/licences", json={"licence": LICENCE, "name": "Dr. A", "pin": PIN}, headers=op
    )
    assert r.status_code == 201, r.text
    await eventually(lambda: auth.deps.view.hospital(HOSPITAL), what="hospital projected")
    await eventually(lambda: auth.deps.patients.is_registered(PATIENT), what="patient known")
    r = await auth.http.post(
        f"/hospitals/{HOSPITAL}/physicians", json={"licence": LICENCE}, headers=op
    )
    assert r.status_code == 201, r.text
    r = await auth.http.post(
        "/clients",
        headers=op,
        json={
            "kind": "smart-app",
            "client_id": "smart-app",
            "redirect_uris": [REDIRECT],
        },
    )
    assert r.status_code == 201, r.text


@pytest.fixture
async def auth(settings: Settings, tmp_path: Path) -> AsyncIterator[Auth]:
    async for found in started(settings, tmp_path, **WIDE_OPEN):
        await seeded(found)
        yield found


async def sign_in_page(auth: Auth) -> Browser:
    client = AsyncOAuth2Client(
        "smart-app",
        redirect_uri=REDIRECT,
        scope="launch/patient openid fhirUser patient/*.rs",
        code_challenge_method="S256",
    )
    url, _ = client.create_authorization_url(
        f"{ISSUER}/authorize", code_verifier="v" * 64, aud=AUDIENCE
    )
    browser = Browser(auth.http)
    await browser.open(url)
    assert browser.status == 200, browser.page
    return browser


async def test_parallel_wrong_pins_get_at_most_the_allowed_checks(auth: Auth) -> None:
    checks = Counter[str]()
    real_check = auth.deps.checker.check

    async def counted(pin_hash: str | None, pin: str) -> bool:
        checks["evaluated"] += 1
        return await real_check(pin_hash, pin)

    auth.deps.checker.check = counted  # type: ignore[method-assign]
    browser = await sign_in_page(auth)
    form = {**hidden_fields(browser.page), "licence": LICENCE, "hospital": HOSPITAL}

    async def attempt(i: int) -> int:
        r = await auth.http.post("/authorize/physician", data={**form, "pin": f"{i:04d}9"})
        return r.status_code

    statuses = Counter(await asyncio.gather(*(attempt(i) for i in range(300))))
    limit = auth.settings.auth_max_failures
    assert statuses[401] <= limit and checks["evaluated"] <= limit, (statuses, checks)
    assert set(statuses) <= {401, 429}, statuses
    r = await auth.http.post("/authorize/physician", data={**form, "pin": PIN})
    assert r.status_code == 429, "locked out: no token afterwards, even with the right PIN"
    assert checks["evaluated"] <= limit


async def test_throttles_answer_429_before_any_pin_is_checked(
    settings: Settings, tmp_path: Path
) -> None:
    async for auth in started(settings, tmp_path, auth_throttle_per_address="20/minute"):
        browser = await sign_in_page_for_throttle(auth)
        form = {**hidden_fields(browser.page), "licence": "13579", "hospital": HOSPITAL}
        results = await asyncio.gather(
            *(
                auth.http.post("/authorize/physician", data={**form, "pin": "0000"})
                for _ in range(100)
            )
        )
        statuses = Counter(r.status_code for r in results)
        assert statuses[429] >= 80 and set(statuses) <= {401, 404, 429}, statuses


async def sign_in_page_for_throttle(auth: Auth) -> Browser:
    op = await auth.operator_headers()
    await auth.http.post(
        "/clients",
        headers=op,
        json={"kind": "smart-app", "client_id": "smart-app", "redirect_uris": [REDIRECT]},
    )
    return await sign_in_page(auth)


async def test_a_smart_client_completes_a_standalone_launch(auth: Auth) -> None:
    client = AsyncOAuth2Client(
        "smart-app",
        redirect_uri=REDIRECT,
        scope="launch/patient openid fhirUser offline_access patient/*.rs",
        code_challenge_method="S256",
        transport=httpx.ASGITransport(app=auth.app),
        token_endpoint_auth_method="none",
    )
    verifier = "x" * 20 + "-PKCE-verifier-" + "y" * 30
    url, state = client.create_authorization_url(
        f"{ISSUER}/authorize", code_verifier=verifier, aud=AUDIENCE
    )
    browser = Browser(auth.http)
    await browser.open(url)
    r = await browser.post("/authorize/physician", licence=LICENCE, pin=PIN, hospital=HOSPITAL)
    assert r.status_code == 200, r.text
    back = await browser.post("/authorize/launch", cid=PATIENT)
    assert code_of(back)["state"] == state
    token = await client.fetch_token(
        f"{ISSUER}/token", authorization_response=back.headers["location"], code_verifier=verifier
    )
    assert token["patient"] == PATIENT and token["id_token"] and token["refresh_token"]
    principal = await auth.verifier().verify(token["access_token"])
    assert principal.licence == LICENCE and principal.patient == PATIENT
    refreshed = await client.refresh_token(f"{ISSUER}/token", refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    reused = await auth.http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": "smart-app",
        },
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    family = await auth.http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refreshed["refresh_token"],
            "client_id": "smart-app",
        },
    )
    assert family.status_code == 400, "reuse revoked the whole family"
    await client.aclose()


async def test_backend_services_revocation_and_introspection(auth: Auth) -> None:
    key = new_key()
    op = await auth.operator_headers()
    r = await auth.http.post(
        "/clients",
        headers=op,
        json={
            "kind": "hospital-system",
            "client_id": "hosp-10670",
            "hospital": HOSPITAL,
            "jwks": public_jwks(key),
        },
    )
    assert r.status_code == 201, r.text
    form = backend_form(key, "hosp-10670", f"{ISSUER}/token", "system/Observation.rs")
    r = await auth.http.post("/token", data=form)
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    principal = await auth.verifier().verify(access)
    assert principal.hospital == HOSPITAL and principal.may("Observation", "s", ("system",))
    assert (await auth.http.post("/token", data=form)).json()["error"] == "invalid_client"
    introspect = backend_form(auth.operator, "dev-operator", f"{ISSUER}/token", "")
    del introspect["grant_type"], introspect["scope"]
    r = await auth.http.post("/introspect", data={**introspect, "token": access})
    assert r.json()["active"] is True and r.json()["hospital"] == HOSPITAL
    revoke = backend_form(key, "hosp-10670", f"{ISSUER}/token", "")
    del revoke["grant_type"], revoke["scope"]
    assert (await auth.http.post("/revoke", data={**revoke, "token": access})).status_code == 200
    introspect = backend_form(auth.operator, "dev-operator", f"{ISSUER}/token", "")
    del introspect["grant_type"], introspect["scope"]
    r = await auth.http.post("/introspect", data={**introspect, "token": access})
    assert r.json() == {"active": False}


async def test_shared_auth_refuses_tampered_expired_and_foreign_tokens(auth: Auth) -> None:
    head, body, sig = (await auth.operator_headers())["authorization"][7:].split(".")
    tampered = f"{head}.{body[:-3]}AAA.{sig}"
    expired_keys = auth.deps.ctx.keys
    expired = expired_keys.sign(
        {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "exp": 1_000_000,
            "jti": "x",
            "sub": "s",
            "client_id": "c",
        },
        "at+jwt",
    )
    foreign = expired_keys.sign(
        {
            "iss": ISSUER,
            "aud": "http://elsewhere/fhir",
            "exp": 2**40,
            "jti": "y",
            "sub": "s",
            "client_id": "c",
        },
        "at+jwt",
    )
    stranger = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=public_jwks(new_key()))
    token = (await auth.operator_headers())["authorization"][7:]
    cases = [
        (auth.verifier(), tampered),
        (auth.verifier(), expired),
        (auth.verifier(), foreign),
        (stranger, token),
    ]
    for verifier, bad in cases:
        with pytest.raises(Unauthorized):
            await verifier.verify(bad)
    assert (await auth.verifier().verify(token)).has_role("operator")


async def test_identity_and_security_events_reach_the_broker(auth: Auth) -> None:
    identity = await read_events(auth.settings, topics.IDENTITY_EVENTS, at_least=2)
    by_type = {event["type"]: (key, event) for key, event in identity}
    key, licence = by_type[LicenceChanged.TYPE]
    assert key == LICENCE and licence["data"]["state"] == {
        "licence": LICENCE,
        "name": "Dr. A",
        "active": True,
    }
    assert "pin" not in json.dumps(licence["data"]).lower()
    key, roster = by_type[RosterChanged.TYPE]
    assert key == HOSPITAL and roster["data"] == {
        "version": 1,
        "state": {"hospital": HOSPITAL, "licences": [LICENCE]},
    }
    security = await read_events(auth.settings, topics.SECURITY_EVENTS, at_least=3)
    types = [(event["type"], event["data"]) for _, event in security]
    assert (PhysicianAdded.TYPE, {"physician": LICENCE, "hospital": HOSPITAL}) in [
        (t, {k: d[k] for k in ("physician", "hospital")})
        for t, d in types
        if t == PhysicianAdded.TYPE
    ]
    acted = [d for t, d in types if t == OperatorActed.TYPE]
    assert {("dev-operator", "licence.loaded"), ("dev-operator", "client.registered")} <= {
        (d["operator"], d["action"]) for d in acted
    }
