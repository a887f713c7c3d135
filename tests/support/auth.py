"""Helpers for the auth service's tests: in-memory deps, keys for clients, PKCE, and a
browser that walks the sign-in page (plain form posts, as a browser without script).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from healthlink_adapter.smart import token_form
from joserfc.jwk import ECKey

from services.auth.app import build_deps
from services.auth.handlers import Deps
from services.auth.interactions import MemoryInteractions
from services.auth.oauthstore import MemoryOAuthStore
from services.auth.otp import RecordingOtpSender
from services.auth.repository import MemoryPatients, MemoryPins, MemoryStateLog
from services.auth.settings import AuthSettings
from services.auth.slots import MemoryAttempts
from services.auth.verifier import FixedScanVerifier
from shared.broker import RecordingPublisher
from shared.cid import cid_check_digit

ISSUER = "http://auth.test"
AUDIENCE = "http://fhir.test/fhir"
REDIRECT = "http://app.test/callback"
GOOD_SCAN = "dev-face-scan-ok"
# Unit tests hash PINs with small argon2id parameters (production: 64 MiB, 3 passes).
CHEAP_ARGON2 = {"auth_argon2_memory_kib": 1024, "auth_argon2_time_cost": 1}


def make_cid(first12: str) -> str:
    return first12 + str(cid_check_digit(first12))


def auth_settings(**overrides: Any) -> AuthSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "token_secret": "test-secret-not-for-production",
        "auth_issuer": ISSUER,
        "auth_audience": AUDIENCE,
        "auth_bootstrap_operator": None,
        **CHEAP_ARGON2,
        **overrides,
    }
    return AuthSettings(**values)


def memory_deps(settings: AuthSettings, clock: Callable[[], datetime] | None = None) -> Deps:
    """The auth use cases over in-memory fakes (no I/O)."""
    from shared.projections import ConsentProjection

    return build_deps(
        settings,
        states=MemoryStateLog(),
        pins=MemoryPins(),
        patients=MemoryPatients(),
        view=ConsentProjection.in_memory(),
        attempts=MemoryAttempts(),
        interactions=MemoryInteractions(),
        store=MemoryOAuthStore(),
        publisher=RecordingPublisher(),
        otp=RecordingOtpSender(),
        scans=FixedScanVerifier(GOOD_SCAN),
        clock=clock or (lambda: datetime.now(UTC)),
    )


def new_key() -> ECKey:
    key = ECKey.generate_key("P-256", private=True)
    return ECKey.import_key(key.as_dict(private=True), {"kid": key.thumbprint()})


def public_jwks(key: ECKey) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) | {"kid": key.kid}]}


def backend_form(key: ECKey, client_id: str, token_url: str, scope: str) -> dict[str, str]:
    """A SMART Backend Services token request, as the hospital adapter makes it."""
    return token_form(key, client_id, token_url, scope)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hidden_fields(page: str) -> dict[str, str]:
    found = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page)
    fields: dict[str, str] = {}
    for name, value in found:
        fields.setdefault(name, unescape(value))
    return fields


@dataclass
class Browser:
    """Walks the sign-in pages with form posts and stops at the redirect to the app."""

    http: httpx.AsyncClient
    page: str = ""
    status: int = 0

    async def open(self, url: str) -> httpx.Response:
        response = await self.http.get(url)
        self.page, self.status = response.text, response.status_code
        return response

    async def post(self, action: str, **fields: str) -> httpx.Response:
        form = {**hidden_fields(self.page), **fields}
        response = await self.http.post(action, data=form)
        if response.status_code != 303:
            self.page, self.status = response.text, response.status_code
        return response


def code_of(response: httpx.Response) -> dict[str, str]:
    """The query of the redirect back to the app (``code``, ``state`` or ``error``)."""
    assert response.status_code in (302, 303), (response.status_code, response.text[:500])
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {k: v[0] for k, v in query.items()}
