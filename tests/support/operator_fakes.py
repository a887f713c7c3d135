"""The operator view's back ends in memory (the ``OperatorApi`` port): consent's hospital
API, the dead-letter pages of every service, the audit log's verification and the
services' readiness, each refusing as the services do (``backends.outcome_error``): an
auditor's change is 403, a token the services no longer take 401."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.portal.app import create_app
from services.portal.backends import outcome_error
from services.portal.errors import SignInRefused
from services.portal.handlers import Deps
from services.portal.operator_backends import Who
from services.portal.operators import OperatorDeps, OperatorSession
from services.portal.repository import MemorySessions
from services.portal.settings import PortalSettings
from tests.support.clock import Seconds
from tests.support.portal_fakes import FakeQuery, FakeSmartApp

OPERATOR_TOKEN = "op.erator.token"
AUDITOR_TOKEN = "au.ditor.token"
METRICS = """# HELP healthlink_consumer_lag lag
healthlink_consumer_lag{service="ingest",topic="t",partition="0"} 3.0
healthlink_consumer_lag{service="ingest",topic="t",partition="1"} 4.0
healthlink_dead_letters_total{service="ingest",topic="t",reason="no-consent"} 2.0
healthlink_messages_consumed_total{service="ingest",topic="t"} 10.0
"""


def letter(n: int, topic: str = "healthlink.ingest.uploads") -> dict[str, Any]:
    """A dead letter as ``GET /admin/deadletters`` shows it."""
    return {
        "id": f"letter-{n}", "reason": "no-consent", "detail": "", "service": "ingest",
        "time": f"2026-05-2{n}T03:00:00+00:00",
        "source": {"topic": topic, "partition": 0, "offset": n},
        "headers": {"hl-hospital": "10670"}, "status": "pending", "retried_at": None,
        "preview": {"bytes": 1200, "kind": "fhir-bundle", "resource_types": {"Encounter": 1}},
    }  # fmt: skip


@dataclass
class FakeOperatorApi:
    """Two hospitals; ingest has three dead letters (pages of two); consent is down."""

    hospitals_by_code: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "10670": {
                "code": "10670",
                "name": "Siriraj",
                "role": "provider",
                "consent_mode": "standing",
                "active": True,
                "version": 3,
                "signing_keys": [
                    {
                        "kid": "si-2026",
                        "kty": "EC",
                        "crv": "P-256",
                        "x": "x1",
                        "y": "y1",
                        "alg": "ES256",
                        "use": "sig",
                    },
                    {
                        "kid": "si-2025",
                        "kty": "EC",
                        "crv": "P-256",
                        "x": "x0",
                        "y": "y0",
                        "alg": "ES256",
                        "use": "sig",
                    },
                ],
            },
            "13781": {
                "code": "13781",
                "name": "Ramathibodi",
                "role": "consumer",
                "consent_mode": "per-visit",
                "active": True,
                "version": 1,
            },
        }
    )
    stored: list[dict[str, Any]] = field(default_factory=lambda: [letter(n) for n in (1, 2, 3)])
    calls: list[tuple[str, ...]] = field(default_factory=list)
    expired: bool = False  # every token refused from now on (401)
    clock: Seconds = field(default_factory=Seconds)

    def _as(self, token: str, change: bool) -> None:
        if self.expired or token not in (OPERATOR_TOKEN, AUDITOR_TOKEN):
            raise outcome_error(401, "an operator's token is required")
        if change and token == AUDITOR_TOKEN:
            raise outcome_error(403, "au is an auditor: reading only, no changes")

    async def identify(self, token: str) -> Who:
        if token == OPERATOR_TOKEN:
            return Who("somchai", ("operator",), int(self.clock()) + 300)
        if token == AUDITOR_TOKEN:
            return Who("malee", ("auditor",), int(self.clock()) + 300)
        raise SignInRefused("not a valid operator's or auditor's token")

    async def hospitals(self) -> list[dict[str, Any]]:
        return list(self.hospitals_by_code.values())

    async def add_hospital(self, token: str, hospital: dict[str, str]) -> dict[str, Any]:
        self._as(token, True)
        self.calls.append(("add", hospital["code"]))
        if hospital["code"] in self.hospitals_by_code:
            raise outcome_error(409, f"hospital {hospital['code']} is already registered")
        state = {**hospital, "active": True, "version": 1}
        self.hospitals_by_code[hospital["code"]] = state
        return {**state, "admin_key": "k" * 64, "upload_key": "u" * 64}

    async def change_hospital(
        self, token: str, code: str, change: dict[str, Any]
    ) -> dict[str, Any]:
        self._as(token, True)
        self.calls.append(("change", code, *map(str, change.values())))
        if code not in self.hospitals_by_code:
            raise outcome_error(404, f"hospital {code} is not a participating hospital")
        self.hospitals_by_code[code].update(change)
        return self.hospitals_by_code[code]

    async def remove_signing_key(self, token: str, code: str, kid: str) -> dict[str, Any]:
        self._as(token, True)
        self.calls.append(("remove-key", code, kid))
        hospital = self.hospitals_by_code.get(code)
        if hospital is None:
            raise outcome_error(404, f"hospital {code} is not a participating hospital")
        keys = hospital.get("signing_keys") or []
        if not any(k["kid"] == kid for k in keys):
            raise outcome_error(404, f"hospital {code} has no signing key {kid!r}")
        hospital["signing_keys"] = [k for k in keys if k["kid"] != kid]
        return hospital

    async def letters(self, token: str, service: str, cursor: str, limit: int) -> dict[str, Any]:
        self._as(token, False)
        self.calls.append(("letters", service, cursor))
        mine = [x for x in self.stored if x["service"] == service]
        start = int(cursor or 0)
        page, more = mine[start : start + 2], start + 2 < len(mine)
        return {"entries": page, "cursor": str(start + 2), "next": "/admin/…" if more else None,
                "records_on_topic": len(self.stored)}  # fmt: skip

    async def retry(self, token: str, via: str, letter_id: str) -> list[str]:
        self._as(token, True)
        self.calls.append(("retry", via, letter_id))
        return [x["id"] for x in self.stored if x["id"] == letter_id]

    async def verify_audit(self, token: str) -> dict[str, Any]:
        self._as(token, False)
        heads = {"access.p0": 7, "security.p1": 4}  # chain -> the latest signed tree size
        return {"ok": True, "records": 12, "heads": heads, "unsigned": 1, "breaches": []}

    async def readiness(self, service: str) -> tuple[bool | None, dict[str, Any]]:
        if service == "consent":
            return None, {}
        if service == "query":
            return False, {"kafka": True, "database": False}
        return True, {"kafka": True, "database": True}

    async def metrics(self, service: str) -> str | None:
        return None if service == "consent" else METRICS


@asynccontextmanager
async def operator_client(api: FakeOperatorApi) -> AsyncIterator[httpx.AsyncClient]:
    """The portal (``create_app``) with the operator view on ``api``, as an HTTP client."""
    sessions: MemorySessions[OperatorSession] = MemorySessions(api.clock)
    view = OperatorDeps(sessions=sessions, api=api, session_ttl_s=600, clock=api.clock)
    query = FakeQuery()
    deps = Deps(sessions=MemorySessions[Any](api.clock), query=query, smart=FakeSmartApp(query),
                clock=api.clock, operators=view)  # fmt: skip
    app = create_app(PortalSettings(environment="test"), deps=deps)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as client:
        yield client


async def signed_in(client: httpx.AsyncClient, token: str = OPERATOR_TOKEN) -> str:
    """Sign in to the operator view through the portal; the session's CSRF token."""
    page = (await client.get("/api/operator/session")).json()["csrf"]
    r = await client.post("/api/operator/session", json={"token": token},
                          headers={"x-csrf-token": page})  # fmt: skip
    assert r.status_code == 200, r.text
    return str(r.json()["csrf"])
