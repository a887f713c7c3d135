"""``shared.http.patient_of`` (``PatientDep``: consent's, audit's and notify's patient
endpoints): the auth service's access token of a patient signed in by themselves (the
``patient`` claim the CID, ``fhirUser`` ``Patient/<CID>``, a ``patient/`` scope) or the
consent service's HMAC patient token; anything else 401, another CID 403."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.auth.keys import SigningKeys, new_key
from shared import tokens
from shared.auth import TokenVerifier
from shared.http import PatientDep, install_error_handlers, same_patient
from shared.settings import Settings

pytestmark = pytest.mark.unit
ISS, AUD = "http://auth.test", "http://fhir.test/fhir"
KEYS = SigningKeys([new_key()])
CID, OTHER = "1234567890121", "1103700012346"
SECRET = "patient-token-test-secret-0123456789"


def access_token(keys: SigningKeys = KEYS, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "sub": f"Patient/{CID}",
        "client_id": "healthlink-portal",
        "scope": "launch/patient openid fhirUser patient/*.rs",
        "fhirUser": f"Patient/{CID}",
        "patient": CID,
    }
    claims.update(changes)
    return keys.sign({k: v for k, v in claims.items() if v is not None}, "at+jwt")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.state.settings = Settings(environment="test", token_secret=SECRET)
    app.state.token_verifier = TokenVerifier(issuer=ISS, audience=AUD, jwks=KEYS.public_jwks())

    @app.get("/patients/{cid}/things")
    async def read_things(cid: str, me: PatientDep) -> dict[str, str]:
        same_patient(cid, me)
        return {"cid": me}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


async def get(client: httpx.AsyncClient, token: str, cid: str = CID) -> httpx.Response:
    return await client.get(f"/patients/{cid}/things", headers={"authorization": f"Bearer {token}"})


async def test_a_patients_own_access_token_is_the_patient(client: httpx.AsyncClient) -> None:
    r = await get(client, access_token())
    assert r.status_code == 200, r.text
    assert r.json() == {"cid": CID}


async def test_another_patients_cid_is_forbidden(client: httpx.AsyncClient) -> None:
    r = await get(client, access_token(), cid=OTHER)
    assert r.status_code == 403
    assert r.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"aud": "http://elsewhere.test/fhir"}, "wrong audience"),
        ({"iss": "http://impostor.test"}, "wrong issuer"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"patient": None}, "no patient claim"),
        ({"fhirUser": "Practitioner/12345", "hospital": "10670"}, "a physician's launch"),
        ({"fhirUser": f"Patient/{OTHER}"}, "fhirUser of another patient"),
        ({"scope": "openid fhirUser"}, "no patient/ scope"),
        ({"scope": "openid user/*.rs"}, "only user/ scopes"),
    ],
)
async def test_an_access_token_not_of_the_patient_is_unauthorized(
    client: httpx.AsyncClient, changes: dict[str, Any], why: str
) -> None:
    r = await get(client, access_token(**changes))
    assert r.status_code == 401, why
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert CID not in r.text


async def test_a_token_signed_by_another_key_is_unauthorized(client: httpx.AsyncClient) -> None:
    r = await get(client, access_token(SigningKeys([new_key()])))
    assert r.status_code == 401


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b", "a..b"])
async def test_garbage_is_unauthorized(client: httpx.AsyncClient, token: str) -> None:
    r = await get(client, token)
    assert r.status_code == 401


async def test_the_consent_services_hmac_token_still_works(client: httpx.AsyncClient) -> None:
    token = tokens.issue(SECRET, tokens.PATIENT, CID, 60)
    assert (await get(client, token)).json() == {"cid": CID}
    assert (await get(client, token, cid=OTHER)).status_code == 403
    wrong = tokens.issue(SECRET, tokens.PHYSICIAN, CID, 60)
    assert (await get(client, wrong)).status_code == 401
    expired = tokens.issue(SECRET, tokens.PATIENT, CID, -10)
    assert (await get(client, expired)).status_code == 401
