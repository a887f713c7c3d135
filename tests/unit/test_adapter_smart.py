"""The adapter's SMART Backend Services auth (``healthlink_adapter.smart``): a token is
asked for with a ``private_key_jwt`` assertion the auth service can verify, kept until
shortly before it expires, asked for again once on a 401, and a refusal says why."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest
from healthlink_adapter import BackendServicesAuth, TokenRefused, new_key, public_jwk
from joserfc import jwt
from joserfc.jwk import ECKey

pytestmark = pytest.mark.unit
TOKEN_URL = "http://auth.test/token"
KEY = new_key("hosp-10670-1")


class TokenServer:
    """The auth service's token endpoint: checks each assertion, numbers the tokens."""

    def __init__(self, lifetime_s: int = 300, refuse: bool = False) -> None:
        self.forms: list[dict[str, str]] = []
        self.lifetime_s = lifetime_s
        self.refuse = refuse

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.forms.append(form)
        if self.refuse:
            return httpx.Response(400, json={"error": "invalid_client", "error_description": "no"})
        public = ECKey.import_key(public_jwk(KEY))
        claims = jwt.decode(form["client_assertion"], public, algorithms=["ES256"]).claims
        assert claims["iss"] == claims["sub"] == "hosp-10670" and claims["aud"] == TOKEN_URL
        token = f"token-{len(self.forms)}"
        return httpx.Response(200, json={"access_token": token, "expires_in": self.lifetime_s})


def fhir(seen: list[str], refuse_first: int = 0) -> httpx.MockTransport:
    """The resource server: records the bearer it got; 401 for the first ``refuse_first``."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(401 if len(seen) <= refuse_first else 202, json={})

    return httpx.MockTransport(answer)


async def test_a_token_is_asked_for_once_and_kept_until_it_nearly_expires() -> None:
    server, now, seen = TokenServer(), [1000.0], []
    auth = BackendServicesAuth(
        TOKEN_URL, "hosp-10670", KEY, clock=lambda: now[0], transport=httpx.MockTransport(server)
    )
    async with httpx.AsyncClient(transport=fhir(seen), auth=auth) as http:
        for _ in range(3):
            await http.post("http://ingest.test/fhir", content=b"{}")
        now[0] += 241  # 300 s token, renewed a minute early
        await http.post("http://ingest.test/fhir", content=b"{}")
    assert seen == ["Bearer token-1"] * 3 + ["Bearer token-2"]
    (form, _) = server.forms
    assert form["grant_type"] == "client_credentials" and form["scope"] == "system/Bundle.c"
    assert form["client_assertion_type"].endswith(":client-assertion-type:jwt-bearer")


async def test_a_401_gets_a_fresh_token_and_one_more_try() -> None:
    server, seen = TokenServer(), []
    auth = BackendServicesAuth(TOKEN_URL, "hosp-10670", KEY, transport=httpx.MockTransport(server))
    async with httpx.AsyncClient(transport=fhir(seen, refuse_first=1), auth=auth) as http:
        r = await http.post("http://ingest.test/fhir", content=b"{}")
    assert r.status_code == 202 and seen == ["Bearer token-1", "Bearer token-2"]
    seen.clear()
    async with httpx.AsyncClient(transport=fhir(seen, refuse_first=5), auth=auth) as http:
        r = await http.post("http://ingest.test/fhir", content=b"{}")
    assert r.status_code == 401 and len(seen) == 2, "one more try, not a loop"


async def test_a_refused_token_request_says_the_auth_services_reason() -> None:
    auth = BackendServicesAuth(
        TOKEN_URL, "hosp-10670", KEY, transport=httpx.MockTransport(TokenServer(refuse=True))
    )
    with pytest.raises(TokenRefused) as refused:
        await auth.token()
    assert (refused.value.status, refused.value.error) == (400, "invalid_client")
    with pytest.raises(RuntimeError, match="AsyncClient only"):
        httpx.Client(auth=auth, transport=httpx.MockTransport(fhir([]))).get("http://x.test/")
