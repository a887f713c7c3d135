"""``services/portal/smart.HttpSmartApp`` on a mock auth service (httpx's mock
transport: discovery and the token endpoint): the viewer's client believes only a
physician's token, the patient portal's only a token of the patient who signed in
(``patient`` = CID and ``fhirUser`` = ``Patient/<CID>``; a physician's launch with that
patient is refused), and each asks for its own scopes and redirect URI."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client

from services.auth.keys import SigningKeys, new_key
from services.portal.errors import SignInFailed
from services.portal.smart import PATIENT_SCOPE, SCOPE, HttpSmartApp
from shared.auth import TokenVerifier

pytestmark = pytest.mark.unit
ISS, AUD = "http://auth.test", "http://fhir.test/fhir"
KEYS = SigningKeys([new_key()])
CID = "1101700230708"


def access_token(**claims: Any) -> str:
    now = int(time.time())
    base = {"iss": ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": uuid.uuid4().hex}
    base |= {"client_id": "healthlink-portal", "scope": "openid fhirUser"}
    return KEYS.sign(base | claims, "at+jwt")


PATIENT = access_token(sub=f"Patient/{CID}", fhirUser=f"Patient/{CID}", patient=CID)
PHYSICIAN = access_token(sub="Practitioner/12345", fhirUser="Practitioner/12345", hospital="10670")
LAUNCHED = access_token(
    sub="Practitioner/12345", fhirUser="Practitioner/12345", hospital="10670", patient=CID
)


class MockApp(HttpSmartApp):
    """The portal's client with every request answered by ``answer``."""

    def __init__(self, token: str, *, for_patients: bool, tmp: Path) -> None:
        key = new_key()
        super().__init__(
            issuer=ISS,
            audience=AUD,
            client_id="healthlink-portal",
            redirect_uri="http://portal.test/patient/callback"
            if for_patients
            else "http://portal.test/callback",
            client_key=json.dumps(key.as_dict(private=True)),
            key_file=tmp / "none.jwk",
            verifier=TokenVerifier(issuer=ISS, audience=AUD, jwks=KEYS.public_jwks()),
            timeout_s=5.0,
            for_patients=for_patients,
        )
        self.token = token
        self._http = httpx.AsyncClient(transport=httpx.MockTransport(self.answer))

    def answer(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/smart-configuration":
            return httpx.Response(
                200,
                json={
                    "authorization_endpoint": f"{ISS}/authorize",
                    "token_endpoint": f"{ISS}/token",
                },
            )
        return httpx.Response(
            200,
            json={
                "access_token": self.token,
                "token_type": "Bearer",
                "expires_in": 300,
                "refresh_token": "r",
                "scope": "openid",
            },
        )

    def _client(self) -> AsyncOAuth2Client:
        client = super()._client()
        client._transport = httpx.MockTransport(self.answer)
        return client


async def test_the_patient_portals_client_asks_for_patient_scopes(tmp_path: Path) -> None:
    app = MockApp(PATIENT, for_patients=True, tmp=tmp_path)
    url = await app.authorization_url("state-1", "v" * 64, "th")
    sent = parse_qs(urlsplit(url).query)
    assert sent["scope"] == [PATIENT_SCOPE] and "user/" not in PATIENT_SCOPE
    assert sent["redirect_uri"] == ["http://portal.test/patient/callback"]
    assert sent["aud"] == [AUD] and sent["code_challenge_method"] == ["S256"]
    signed_in = await app.exchange("code", "v" * 64)
    assert signed_in.patient == CID and signed_in.token == PATIENT
    assert signed_in.refresh_token == "r" and signed_in.expires_in == 300
    await app.aclose()


@pytest.mark.parametrize("token", [PHYSICIAN, LAUNCHED])
async def test_the_patient_portal_refuses_a_physicians_token(tmp_path: Path, token: str) -> None:
    app = MockApp(token, for_patients=True, tmp=tmp_path)
    with pytest.raises(SignInFailed):
        await app.exchange("code", "v" * 64)
    await app.aclose()


async def test_the_viewer_refuses_a_patients_token_and_takes_a_physicians(tmp_path: Path) -> None:
    app = MockApp(PATIENT, for_patients=False, tmp=tmp_path)
    url = await app.authorization_url("state-1", "v" * 64, "en")
    assert parse_qs(urlsplit(url).query)["scope"] == [SCOPE]
    with pytest.raises(SignInFailed):
        await app.exchange("code", "v" * 64)
    app.token = PHYSICIAN
    signed_in = await app.exchange("code", "v" * 64)
    assert (signed_in.licence, signed_in.hospital, signed_in.patient) == ("12345", "10670", None)
    await app.aclose()
