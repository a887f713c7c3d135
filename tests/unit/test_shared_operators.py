"""``shared/operators.py``: named operators and auditors on every service's operator
endpoints. An operator changes and reads, an auditor only reads (403 on a change), a
token without either role is refused, the static token is the "bootstrap" identity
outside production only, and every change is an ``operator.acted`` event under the
operator's name (or 503 when the security log cannot take it)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from services.auth.keys import SigningKeys, new_key
from shared.auth import TokenVerifier
from shared.broker import RecordingPublisher
from shared.events import Envelope, OperatorActed
from shared.http import install_error_handlers
from shared.operators import ChangerDep, ReaderDep, acted
from shared.settings import Settings

pytestmark = pytest.mark.unit
ISS, AUD = "http://auth.test", "http://fhir.test/fhir"
BOOTSTRAP_TOKEN = "bootstrap-token-for-this-test-only-000"
KEYS = SigningKeys([new_key()])


def token(client_id: str, roles: list[str] | None, keys: SigningKeys = KEYS) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "sub": client_id,
        "client_id": client_id,
        "scope": "system/AuditEvent.rs",
    }
    if roles is not None:
        claims["roles"] = roles
    return keys.sign(claims, "at+jwt")


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


class Failing(RecordingPublisher):
    async def publish(self, topic: str, event: Envelope) -> None:
        raise ConnectionError("broker down")


def app_of(settings: Settings, publisher: RecordingPublisher) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(issuer=ISS, audience=AUD, jwks=KEYS.public_jwks())
    app.state.security_publisher = publisher

    @app.get("/things")
    async def read_things(me: ReaderDep) -> dict[str, str]:
        return {"name": me.name}

    @app.post("/things/{code}")
    async def change_thing(request: Request, code: str, me: ChangerDep) -> dict[str, str]:
        await acted(request, me, "thing.changed", code, {"why": "test"})
        return {"name": me.name}

    return app


def settings_of(**changes: Any) -> Settings:
    return Settings(environment="test", admin_token=BOOTSTRAP_TOKEN, **changes)


@pytest.fixture
def published() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
async def client(published: RecordingPublisher) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_of(settings_of(), published))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


async def test_an_operator_changes_and_the_change_is_recorded_under_the_name(
    client: httpx.AsyncClient, published: RecordingPublisher
) -> None:
    me = bearer(token("somchai", ["operator"]))
    assert (await client.get("/things", headers=me)).json() == {"name": "somchai"}
    r = await client.post("/things/10670", headers=me)
    assert r.status_code == 200 and r.json() == {"name": "somchai"}, r.text
    [event] = published.of(OperatorActed)
    assert event.subject == "somchai"
    assert event.data["operator"] == "somchai" and event.data["action"] == "thing.changed"
    assert event.data["target"] == "10670"
    assert event.data["detail"]["roles"] == "operator" and event.data["detail"]["why"] == "test"


async def test_an_auditor_reads_but_may_not_change(
    client: httpx.AsyncClient, published: RecordingPublisher
) -> None:
    me = bearer(token("malee", ["auditor"]))
    assert (await client.get("/things", headers=me)).json() == {"name": "malee"}
    r = await client.post("/things/10670", headers=me)
    assert r.status_code == 403 and "auditor" in r.text, r.text
    assert published.of(OperatorActed) == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        (bearer("not-a-token"), 401),
        (bearer(token("somchai", ["operator"], SigningKeys([new_key()]))), 401),  # foreign key
        (bearer(token("hosp-10670", None)), 403),  # a hospital system: no operator role
        (bearer(token("app", ["introspect"])), 403),
    ],
)
async def test_others_are_refused(
    client: httpx.AsyncClient, published: RecordingPublisher, headers: dict[str, str], status: int
) -> None:
    for method, path in (("GET", "/things"), ("POST", "/things/10670")):
        r = await client.request(method, path, headers=headers)
        assert r.status_code == status, (method, r.text)
        assert r.json()["resourceType"] == "OperationOutcome"
    assert published.of(OperatorActed) == []


async def test_the_static_token_is_the_bootstrap_identity(
    client: httpx.AsyncClient, published: RecordingPublisher
) -> None:
    r = await client.post("/things/10670", headers=bearer(BOOTSTRAP_TOKEN))
    assert r.status_code == 200 and r.json() == {"name": "bootstrap"}, r.text
    assert [e.data["operator"] for e in published.of(OperatorActed)] == ["bootstrap"]


async def test_production_refuses_the_static_token_unless_enabled() -> None:
    strong = {"token_secret": "t" * 40, "admin_token": "a" * 40}
    refusing = Settings(environment="production", **strong)
    allowing = Settings(environment="production", admin_token_enabled=True, **strong)
    assert not refusing.bootstrap_token_allowed and allowing.bootstrap_token_allowed
    for settings, status in ((refusing, 401), (allowing, 200)):
        transport = httpx.ASGITransport(app=app_of(settings, RecordingPublisher()))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            r = await http.get("/things", headers=bearer("a" * 40))
            assert r.status_code == status, r.text


async def test_an_action_the_security_log_cannot_take_answers_503() -> None:
    transport = httpx.ASGITransport(app=app_of(settings_of(), Failing()))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        r = await http.post("/things/10670", headers=bearer(token("somchai", ["operator"])))
    assert r.status_code == 503 and "security log" in r.text, r.text
