"""The hospital console's back ends in memory (the ``HospitalApi`` port): consent's
hospital list and key API, query's roster API and a hospital's set-aside uploads on
ingest, each refusing as the services do (``backends.outcome_error``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from healthlink_adapter.signing import check_public_jwk, new_key, public_jwk

from services.portal.app import create_app
from services.portal.backends import outcome_error
from services.portal.errors import Unavailable
from services.portal.handlers import Deps
from services.portal.hospitals import HospitalDeps, HospitalSession
from services.portal.repository import MemorySessions
from services.portal.settings import PortalSettings
from tests.support.clock import Seconds
from tests.support.portal_fakes import FakeQuery, FakeSmartApp

HOSPITAL, NAME = "10670", "Siriraj Hospital"
KEY = "a" * 64  # the hospital's admin key
OTHER, OTHER_KEY = "13781", "b" * 64
SIGN_IN = {"hospital": HOSPITAL, "key": KEY}
REGISTRY = ("10001", "10002", "10003")  # licences of the Medical Council mirror
SIGNING_KEY = public_jwk(new_key("site-a-2026"))  # 10670's key at the start


def letter(n: int, reason: str = "no-consent", retried_at: str | None = None) -> dict[str, Any]:
    """A set-aside upload as ingest's ``GET /hospitals/{code}/deadletters`` shows it."""
    return {
        "id": f"letter-{n}",
        "reason": reason,
        "detail": "" if reason == "no-consent" else "entry[0].resource: not valid",
        "service": "ingest",
        "time": f"2026-05-2{n}T03:00:00+00:00",
        "source": {"topic": "healthlink.ingest.uploads", "partition": 0, "offset": n},
        "headers": {"hl-hospital": HOSPITAL, "hl-upload-id": f"upload-{n}"},
        "preview": {"bytes": 1200 + n, "kind": "fhir-bundle",
                    "resource_types": {"Encounter": 1, "Observation": n}},
        "status": "retried" if retried_at else "pending",
        "retried_at": retried_at,
    }  # fmt: skip


def data_request(n: int) -> dict[str, Any]:
    """A data request as ingest's ``GET /hospitals/{code}/data-requests`` shows it."""
    return {"id": f"datareq-{n}", "hospital": HOSPITAL, "patient": f"110170023070{n}",
            "reason": "consent.granted", "time": f"2026-05-2{n}T05:00:00Z",
            "correlation_id": "c-1"}  # fmt: skip


@dataclass
class FakeHospitalApi:
    """Two participating hospitals, each with its admin key and roster; 10670 has two
    uploads set aside (one already retried)."""

    keys: dict[str, str] = field(default_factory=lambda: {HOSPITAL: KEY, OTHER: OTHER_KEY})
    rosters: dict[str, list[str]] = field(default_factory=lambda: {HOSPITAL: ["10001"]})
    letters: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {HOSPITAL: [letter(1), letter(2, "invalid-resource", "x")]}
    )
    signing_keys: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {HOSPITAL: [dict(SIGNING_KEY)]}
    )
    # query's and ingest's view of the admin keys: they learn a rotated one from consent's
    # event after ``lag`` more polls (``key_taken``)
    known: dict[str, str] = field(default_factory=dict)
    lag: int = 0
    probes_down: bool = False  # query or ingest not answering ``key_taken``
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    page_size: int = 50
    down: bool = False
    clock: Seconds = field(default_factory=Seconds)  # the portal's, for its sessions

    def _admin(self, what: str, key: str, code: str, at: str = "query") -> None:
        """``key`` as ``at`` knows the hospital (consent: at once; query and ingest:
        ``known``, once they learned it)."""
        self.calls.append((what, key, code))
        if self.down:
            raise Unavailable("the query service does not answer")
        held = self.keys.get(code) if at == "consent" else self.known.get(code, self.keys.get(code))
        if held != key:
            raise outcome_error(401, "this hospital's admin key is required")

    async def hospital(self, code: str) -> dict[str, Any]:
        if code not in self.keys:
            raise outcome_error(404, f"hospital {code} is not a participating hospital")
        name = NAME if code == HOSPITAL else "Ramathibodi Hospital"
        return {"code": code, "name": name, "signing_keys": self.signing_keys.get(code, [])}

    async def add_signing_key(self, key: str, code: str, jwk: dict[str, Any]) -> dict[str, Any]:
        self._admin("add-key", key, code, "consent")
        try:
            added = check_public_jwk(jwk) | {"alg": "ES256", "use": "sig"}
        except ValueError as exc:
            raise outcome_error(400, f"signing key refused: {exc}") from None
        held = self.signing_keys.setdefault(code, [])
        if any(k["kid"] == added["kid"] and k != added for k in held):
            raise outcome_error(409, f"hospital {code} has another key with kid {added['kid']!r}")
        if added not in held:
            if len(held) >= 10:
                raise outcome_error(409, "at most 10 signing keys; remove an old one")
            held.append(added)
        return await self.hospital(code)

    async def remove_signing_key(self, key: str, code: str, kid: str) -> dict[str, Any]:
        self._admin("remove-key", key, code, "consent")
        held = self.signing_keys.get(code, [])
        if not any(k["kid"] == kid for k in held):
            raise outcome_error(404, f"hospital {code} has no signing key {kid!r}")
        self.signing_keys[code] = [k for k in held if k["kid"] != kid]
        return await self.hospital(code)

    async def rotate_admin_key(self, key: str, code: str) -> str:
        self._admin("admin-key", key, code, "consent")
        self.known.setdefault(code, key)  # query and ingest still hold the old one
        self.keys[code] = f"rotated-{len(self.calls):02d}-" + "k" * 40
        return self.keys[code]

    async def key_taken(self, key: str, code: str) -> bool:
        if self.probes_down:
            raise Unavailable("the ingest service does not answer")
        if self.lag > 0:
            self.lag -= 1
        else:
            self.known.pop(code, None)
        return self.known.get(code, self.keys.get(code)) == key

    async def roster(self, key: str, code: str) -> list[str]:
        self._admin("roster", key, code)
        return list(self.rosters.setdefault(code, []))

    async def add_physician(self, key: str, code: str, licence: str) -> list[str]:
        self._admin("add", key, code)
        if licence not in REGISTRY:
            raise outcome_error(404, "licence is not in the Medical Council registry")
        if licence not in self.rosters.setdefault(code, []):
            self.rosters[code].append(licence)
        return list(self.rosters[code])

    async def remove_physician(self, key: str, code: str, licence: str) -> list[str]:
        self._admin("remove", key, code)
        self.rosters[code] = [x for x in self.rosters.get(code, []) if x != licence]
        return list(self.rosters[code])

    async def set_aside(self, key: str, code: str, cursor: str = "") -> dict[str, Any]:
        """Pages of ``page_size`` letters; the cursor is the index of the next one."""
        self._admin("set-aside", key, code)
        letters = self.letters.get(code, [])
        start = int(cursor) if cursor else 0
        end = start + self.page_size
        return {"entries": letters[start:end], "next": str(end) if end < len(letters) else None}

    async def data_requests(self, key: str, code: str, cursor: str) -> dict[str, Any]:
        """Two requests made of 10670, a page of one at a time (cursor: the index)."""
        self._admin("data-requests", key, code)
        made = [data_request(n) for n in (1, 2)] if code == HOSPITAL else []
        at = int(cursor or 0)
        return {"hospital": code, "requests": made[at : at + 1], "next": str(at + 1),
                "more": at + 1 < len(made)}  # fmt: skip

    async def retry(self, key: str, code: str, letter_id: str) -> list[str]:
        self._admin("retry", key, code)
        for found in self.letters.get(code, []):
            if found["id"] == letter_id:
                found.update(status="retried", retried_at="2026-05-28T04:00:00+00:00")
                return [letter_id]
        raise outcome_error(404, f"no set-aside upload {letter_id} of hospital {code}")


@asynccontextmanager
async def console_client(api: FakeHospitalApi) -> AsyncIterator[httpx.AsyncClient]:
    """The portal (``create_app``) with the hospital console on ``api``, sessions of 600 s
    on its clock, as an HTTP client."""
    sessions: MemorySessions[HospitalSession] = MemorySessions(api.clock)
    console = HospitalDeps(sessions=sessions, api=api, session_ttl_s=600, clock=api.clock)
    viewer = MemorySessions[Any](api.clock)
    deps = Deps(
        sessions=viewer,
        query=(q := FakeQuery()),
        smart=FakeSmartApp(q),
        clock=api.clock,
        hospitals=console,
    )
    app = create_app(PortalSettings(environment="test"), deps=deps)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as client:
        yield client


async def signed_in(client: httpx.AsyncClient, form: dict[str, str] = SIGN_IN) -> str:
    """Sign in to the console through the portal; the session's CSRF token."""
    page = (await client.get("/api/hospital/session")).json()["csrf"]
    r = await client.post("/api/hospital/session", json=form, headers={"x-csrf-token": page})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf"])
