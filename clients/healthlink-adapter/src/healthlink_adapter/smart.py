"""SMART Backend Services tokens for a hospital system (``client_credentials`` with
``private_key_jwt``, RFC 7523), as an ``httpx.Auth`` for ``HttpUploader``.

    auth = BackendServicesAuth("https://auth.example/token", "hosp-10670", key)
    async with HttpUploader("https://ingest.example", "10670", signer, auth=auth) as up:
        await up.send(bundle)

The hospital system is a client of the platform's auth service, registered by an operator
with its public JWK set and the hospital's code; ``key`` is its private EC P-256 JWK (the
same kind of key as an upload signing key: ``healthlink hospitals keygen`` makes one).
Each token request carries a fresh assertion signed with that key (ES256, 4 minutes,
a new ``jti``). The token is kept until a minute before it expires and asked for again
once when the server answers 401 (revoked, or its signing key rotated).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
UPLOAD_SCOPE = "system/Bundle.c"
EARLY_S = 60  # a token is renewed this long before it expires


class TokenRefused(Exception):
    """The auth service refused the token request: its OAuth ``error`` and description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"token refused ({status}): {error}: {description}")
        self.status = status
        self.error = error
        self.description = description


def client_assertion(key: ECKey, client_id: str, token_url: str) -> str:
    """A ``private_key_jwt`` assertion for ``token_url``: valid 4 minutes, used once."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": now,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": "ES256", "kid": str(key.kid), "typ": "JWT"}, claims, key)


def token_form(key: ECKey, client_id: str, token_url: str, scope: str) -> dict[str, str]:
    """The form of a Backend Services token request."""
    return {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(key, client_id, token_url),
    }


def token_of(response: httpx.Response) -> dict[str, Any]:
    """The token answer, or ``TokenRefused`` with the server's OAuth error."""
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body.get("access_token"), str):
        raise TokenRefused(
            response.status_code,
            str(body.get("error") or "invalid_response"),
            str(body.get("error_description") or response.text[:200]),
        )
    return body


class BackendServicesAuth(httpx.Auth):
    """Adds ``Authorization: Bearer <token>`` to each request, getting the token from
    ``token_url`` as the module docstring says. Async clients only."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        key: ECKey,
        *,
        scope: str = UPLOAD_SCOPE,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.scope = scope
        self._key = key
        self._timeout = timeout_s
        self._clock = clock
        self._transport = transport  # the token requests' (tests: httpx.MockTransport)
        self._token: str | None = None
        self._renew_at = 0.0

    async def token(self, *, fresh: bool = False) -> str:
        """The current access token, asked for when there is none, it is about to
        expire, or ``fresh`` is set."""
        if fresh or self._token is None or self._clock() >= self._renew_at:
            form = token_form(self._key, self.client_id, self.token_url, self.scope)
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as http:
                body = token_of(await http.post(self.token_url, data=form))
            lifetime = int(body.get("expires_in") or 300)
            self._token = str(body["access_token"])
            self._renew_at = self._clock() + max(lifetime - EARLY_S, lifetime / 2)
        return self._token

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("BackendServicesAuth works with httpx.AsyncClient only")
        yield request  # pragma: no cover (makes this a generator)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["authorization"] = f"Bearer {await self.token()}"
        response = yield request
        if response.status_code == 401:
            request.headers["authorization"] = f"Bearer {await self.token(fresh=True)}"
            yield request
