"""A hospital's credentials over its life (``services/consent/hospital_keys.py``): an admin
key shown once and kept as its hash, rotated by an operator or the hospital itself; public
signing keys added and removed; every change a hospital event and an operator action, and
no secret in either."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from healthlink_adapter.signing import new_key, public_jwk

from services.consent import registry
from services.consent.app import create_app
from services.consent.fakes import MemoryConsentRepository
from services.consent.handlers import Deps, relay
from services.consent.settings import ConsentSettings
from shared.broker import RecordingPublisher
from shared.events import Envelope, HospitalChanged, HospitalCredentialsChanged, OperatorActed
from shared.hospital_auth import digest
from shared.topics import HOSPITAL_EVENTS

pytestmark = pytest.mark.unit
OPERATOR = {"authorization": "Bearer op-token"}
CODE = "10670"


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.fixture
def deps() -> Deps:
    return Deps(
        repo=MemoryConsentRepository(),
        publisher=RecordingPublisher(),
        clock=lambda: datetime.now(UTC),
    )


@pytest.fixture
async def client(deps: Deps) -> AsyncIterator[httpx.AsyncClient]:
    settings = ConsentSettings(environment="test", token_secret="s", admin_token="op-token")
    transport = httpx.ASGITransport(app=create_app(settings, deps=deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


def sent(deps: Deps) -> list[tuple[str, str]]:
    """Every published event as (type, JSON text)."""
    assert isinstance(deps.publisher, RecordingPublisher)
    return [(e.type, e.model_dump_json()) for _, e in deps.publisher.sent]


def states(deps: Deps) -> list[dict[str, object]]:
    assert isinstance(deps.publisher, RecordingPublisher)
    return [
        HospitalChanged.of(e).state.model_dump(mode="json")
        for topic, e in deps.publisher.sent
        if topic == HOSPITAL_EVENTS
    ]


async def join(client: httpx.AsyncClient) -> str:
    body = {"code": CODE, "name": "Siriraj", "role": "provider"}
    r = await client.post("/hospitals", headers=OPERATOR, json=body)
    assert r.status_code == 201, r.text
    key = r.json()["admin_key"]
    assert len(key) >= 43 and "admin_key_sha256" not in r.json()
    again = await client.post("/hospitals", headers=OPERATOR, json=body)
    assert again.status_code == 201 and "admin_key" not in again.json(), "shown once"
    return str(key)


async def test_the_admin_key_is_shown_once_kept_hashed_and_rotated(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    first = await join(client)
    assert states(deps)[-1]["admin_key_sha256"] == digest(first)
    r = await client.post(f"/hospitals/{CODE}/admin-key", headers=bearer(first))
    assert r.status_code == 201, r.text
    second = r.json()["admin_key"]
    assert second != first and states(deps)[-1]["admin_key_sha256"] == digest(second)
    r = await client.post(f"/hospitals/{CODE}/admin-key", headers=bearer(first))
    assert r.status_code == 401, "the old key no longer rotates anything"
    r = await client.post(f"/hospitals/{CODE}/admin-key", headers=OPERATOR)
    third = r.json()["admin_key"]
    assert r.status_code == 201 and third not in (first, second)
    missing = await client.post("/hospitals/99999/admin-key", headers=OPERATOR)
    assert missing.status_code == 404 and "99999" in missing.text
    kinds = [t for t, _ in sent(deps)]
    assert kinds.count(HospitalCredentialsChanged.TYPE) == 2
    acted = [json.loads(text) for t, text in sent(deps) if t == OperatorActed.TYPE]
    rotations = [a["data"] for a in acted if a["data"]["action"] == "hospital.admin_key_rotated"]
    assert [a["operator"] for a in rotations] == [f"hospital:{CODE}", "bootstrap"]
    for key in (first, second, third):
        assert all(key not in text for _, text in sent(deps)), "no secret in any event"


async def test_signing_keys_are_added_and_removed_public_halves_only(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    admin = bearer(await join(client))
    old, new = public_jwk(new_key("old")), public_jwk(new_key("new"))
    for jwk in (old, old, new):  # the same key twice changes nothing
        r = await client.post(f"/hospitals/{CODE}/signing-keys", headers=admin, json=jwk)
        assert r.status_code == 201, r.text
    assert [k["kid"] for k in r.json()["signing_keys"]] == ["old", "new"]
    assert [len(s["signing_keys"]) for s in states(deps)] == [0, 1, 2]  # type: ignore[arg-type]
    r = await client.delete(f"/hospitals/{CODE}/signing-keys/old", headers=OPERATOR)
    assert r.status_code == 200 and [k["kid"] for k in r.json()["signing_keys"]] == ["new"]
    private = new_key("p").as_dict(private=True) | {"kid": "p"}
    refusals = [
        ("post", "/signing-keys", admin, private, 400, "private key"),
        ("post", "/signing-keys", admin, {**old, "crv": "P-384"}, 400, "P-256"),
        ("post", "/signing-keys", admin, {**old, "x": "AAAA"}, 400, "not a valid public key"),
        ("post", "/signing-keys", admin, {**public_jwk(new_key("new"))}, 409, "another key"),
        ("post", "/signing-keys", {}, old, 401, "bearer token"),
        ("post", "/signing-keys", bearer("guess"), old, 401, "admin key or an operator"),
        ("delete", "/signing-keys/old", admin, None, 404, "no signing key"),
    ]
    for method, path, headers, body, status, says in refusals:
        extra = {"json": body} if body is not None else {}
        r = await client.request(method, f"/hospitals/{CODE}{path}", headers=headers, **extra)
        assert r.status_code == status and says in r.text, (path, says, r.text)
    acted = [json.loads(text)["data"] for t, text in sent(deps) if t == OperatorActed.TYPE]
    actions = [(a["action"], a["detail"].get("kid")) for a in acted]
    assert ("hospital.signing_key_added", "new") in actions
    assert ("hospital.signing_key_removed", "old") in actions
    assert all('"d"' not in text for _, text in sent(deps)), "no private key travels"


class BrokerAway(RecordingPublisher):
    """A publisher that refuses everything: a change stays in its outbox."""

    async def publish(self, topic: str, event: Envelope) -> None:
        raise ConnectionError("broker away")


def acted_event(version: int) -> Envelope:
    payload = OperatorActed(operator="somchai", action="hospital.added", target=CODE,
                            time=datetime.now(UTC), detail={"version": str(version)})  # fmt: skip
    return payload.envelope(source="healthlink/consent", subject="somchai")


async def test_an_operator_action_is_written_with_the_change_it_made(deps: Deps) -> None:
    """The operator's action is in the same outbox write as the hospital change: with the
    broker away both wait there together and the relay sends both (never a change
    without its record); an action that changes nothing is recorded alone."""
    working, deps.publisher = deps.publisher, BrokerAway()
    with pytest.raises(ConnectionError):
        await registry.register_hospital(deps, CODE, "Siriraj", "provider", "standing",
                                         record=acted_event)  # fmt: skip
    waiting = [e.name for _, e in await deps.repo.pending("hospitals")]
    assert waiting == ["hospital.registered", "operator.acted"]
    deps.publisher = working
    assert await relay(deps, grace=timedelta(0)) == 2
    again = await registry.register_hospital(deps, CODE, "Siriraj", "provider", "standing",
                                             record=acted_event)  # fmt: skip
    assert "admin_key" not in again  # nothing changed: no key, the action recorded alone
    assert isinstance(working, RecordingPublisher)
    acted = [OperatorActed.of(e) for _, e in working.sent if e.name == "operator.acted"]
    assert [(a.action, a.detail["version"]) for a in acted] == [("hospital.added", "1")] * 2
