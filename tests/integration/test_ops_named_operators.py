"""Operators and auditors are people (issue 12, item 4), on the real broker and database.

A named operator and a named auditor are registered at the auth service (operator-tool
clients with a role and their own keys) and get ES256 access tokens with
``private_key_jwt``. At the consent service the operator adds, suspends and reinstates a
hospital, rotates its admin key and retries a dead letter; the auditor is refused each
of those (403) but reads the hospitals' dead letters and the audit log. Every action is
found in the audit log (the audit service's chains, read through its search API) under
the operator's name, and none under the auditor's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from joserfc.jwk import ECKey

from services.auth.app import create_app
from services.auth.settings import AuthSettings
from shared import topics
from shared.auth import TokenVerifier
from shared.deadletter import SourceMessage, dead_letter_headers
from shared.events import OperatorActed
from shared.settings import Settings
from tests.support.auth import AUDIENCE, ISSUER, backend_form, new_key, public_jwks
from tests.support.cli import healthlink
from tests.support.inprocess import running
from tests.support.journey import eventually
from tests.support.kafka import publish_raw, read_events
from tests.support.settings import settings_for

pytestmark = pytest.mark.integration
HOSPITAL = "10871"  # this test's own
OPERATOR, AUDITOR = "op-somchai", "au-malee"


@dataclass
class Auth:
    app: FastAPI
    http: httpx.AsyncClient

    async def token(self, client_id: str, key: ECKey) -> dict[str, str]:
        form = backend_form(key, client_id, f"{ISSUER}/token", "system/AuditEvent.rs")
        r = await self.http.post("/token", data=form)
        assert r.status_code == 200, r.text
        return {"authorization": f"Bearer {r.json()['access_token']}"}

    async def fetch_jwks(self, url: str) -> dict[str, Any]:
        found: dict[str, Any] = (await self.http.get(url)).json()
        return found

    def verifier(self) -> TokenVerifier:
        """Verifies at another service as ``shared/operators.py`` does: the auth service's
        published JWK set (fetched through this in-process client)."""
        url = f"{ISSUER}/.well-known/jwks.json"
        return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=url, fetch=self.fetch_jwks)


@pytest.fixture
async def auth(settings: Settings, tmp_path: Path) -> AsyncIterator[Auth]:
    values = {"auth_issuer": ISSUER, "auth_audience": AUDIENCE, "data_dir": str(tmp_path),
              "auth_bootstrap_operator": "dev-operator"}  # fmt: skip
    auth_settings: AuthSettings = settings_for("auth", settings, **values)
    app = create_app(auth_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER, timeout=60) as http:
            yield Auth(app, http)


async def register(auth: Auth, tmp: Path, name: str, role: str) -> dict[str, str]:
    """``healthlink operators add`` as the auth service sees it; returns the new
    person's token headers."""
    bootstrap = ECKey.import_key(json.loads((tmp / "auth" / "dev-operator.jwk").read_text()))
    key = new_key()
    client = {"kind": "operator-tool", "client_id": name, "roles": [role],
              "scope": "system/AuditEvent.rs", "jwks": public_jwks(key)}  # fmt: skip
    r = await auth.http.post(
        "/clients", json=client, headers=await auth.token("dev-operator", bootstrap)
    )
    assert r.status_code == 201, r.text
    return await auth.token(name, key)


async def set_aside(settings: Settings) -> str:
    """A hospital event the consent service could not read, set aside; returns its id."""
    source = SourceMessage(topics.named(topics.HOSPITAL_EVENTS, settings.topic_prefix),
                           0, 0, b"10871", b'{"n": 1}', {})  # fmt: skip
    headers = dead_letter_headers(source, service="consent", reason="unreadable",
                                  detail="test", topic_prefix=settings.topic_prefix)  # fmt: skip
    await publish_raw(settings, topics.DEAD_LETTERS, source.value, key=source.key,
                      headers=dict(headers))  # fmt: skip
    return headers["hl-dlq-id"]


async def test_named_operators_act_and_auditors_read_all_in_the_audit_log(
    settings: Settings, auth: Auth, tmp_path: Path
) -> None:
    op = await register(auth, tmp_path, OPERATOR, "operator")
    au = await register(auth, tmp_path, AUDITOR, "auditor")
    letter = await set_aside(settings)
    async with (
        running("consent", settings) as (consent_app, consent),
        running("audit", settings) as (audit_app, audit),
    ):
        for app in (consent_app, audit_app):
            app.state.token_verifier = auth.verifier()
        hospital = {"code": HOSPITAL, "name": "Named Operators Hospital"}
        assert (await consent.post("/hospitals", json=hospital, headers=au)).status_code == 403
        r = await consent.post("/hospitals", json=hospital, headers=op)
        assert r.status_code == 201, r.text

        for active in (False, True):  # suspend, then reinstate
            path = f"/hospitals/{HOSPITAL}"
            refused = await consent.patch(path, json={"active": active}, headers=au)
            assert refused.status_code == 403 and AUDITOR in refused.text, refused.text
            r = await consent.patch(path, json={"active": active}, headers=op)
            assert r.status_code == 200 and r.json()["active"] is active, r.text
        assert (await consent.post(f"{path}/admin-key", headers=au)).status_code == 403
        assert (await consent.post(f"{path}/admin-key", headers=op)).status_code == 201

        async def listed() -> list[str]:
            r = await consent.get("/admin/deadletters", headers=au)  # an auditor reads
            assert r.status_code == 200, r.text
            return [e["id"] for e in r.json()["entries"]]

        assert letter in await eventually(listed, what="the dead letter listed")
        retry = {"ids": [letter]}
        r = await consent.post("/admin/deadletters/retry", json=retry, headers=au)
        assert r.status_code == 403, r.text
        r = await consent.post("/admin/deadletters/retry", json=retry, headers=op)
        assert r.status_code == 200 and r.json()["ids"] == [letter], r.text

        assert (await audit.get("/audit/verify", headers=au)).status_code == 200
        wanted = {
            ("hospital.added", HOSPITAL),
            ("hospital.suspended", HOSPITAL),
            ("hospital.reinstated", HOSPITAL),
            ("hospital.admin_key_rotated", HOSPITAL),
            ("deadletter.retried", f"ids:{letter}"),
        }

        async def acted() -> list[dict[str, Any]] | None:
            r = await audit.get("/audit/records?kind=security&count=200", headers=au)
            assert r.status_code == 200, r.text
            found = [e["body"]["data"] for e in r.json()["entries"]
                     if e["type"] == OperatorActed.NAME]  # fmt: skip
            done = {(d["action"], d["target"]) for d in found if d["operator"] == OPERATOR}
            return found if wanted <= done else None

        found = await eventually(acted, timeout_s=60, what="the operator's actions audited")
    assert {d["operator"] for d in found} <= {OPERATOR, "dev-operator"}  # never the auditor
    mine = [d for d in found if d["operator"] == OPERATOR]
    assert {d["detail"]["service"] for d in mine} == {"consent"}
    assert all(d["detail"]["roles"] == "operator" for d in mine)


async def test_a_replay_is_recorded_before_it_runs_and_refused_to_strangers(
    settings: Settings,
) -> None:
    """``healthlink replay`` acts on Kafka itself: it checks the operator as the services
    do and records ``replay.run`` (as the replayed service) before it changes anything."""
    # Without a named operator, only where the bootstrap identity is allowed (not in
    # production): here it is switched off, as production has it.
    unnamed = settings.model_copy(update={"admin_token_enabled": False})
    refused = await healthlink(unnamed, "replay", "notify", "--reset-only")
    assert refused.exit_code == 2 and "operator's or auditor's token" in refused.stderr
    done = await healthlink(settings, "replay", "notify", "--reset-only")
    assert done.exit_code == 0, done.stderr
    events = await read_events(settings, topics.SECURITY_EVENTS, 1, drain=True)
    [acted] = [e["data"] for _, e in events if str(e["type"]).endswith(".operator.acted.v1")]
    assert isinstance(acted, dict)
    assert (acted["operator"], acted["action"], acted["target"]) == (
        "bootstrap",
        "replay.run",
        "notify",
    )
    assert acted["detail"]["mode"] == "reset-only" and acted["detail"]["via"] == "cli"
