"""The operator view's use cases: sign in with a named operator's (or auditor's) token,
the participating hospitals (list with their signing keys, add, promote, suspend,
reinstate, remove a signing key), every service's
dead letters a page at a time and a retry through the service that owns the letter's
topic, the audit log's verification, and the services' readiness and key metrics (no
web framework here; docs/portal.md#the-operator-view).

The token stays in the portal's session, as the other pages' credentials do; every
change is the service's own operator API called with it, so the service decides (an
auditor's change is its 403) and records the action under the operator's name. A
token the services refuse (401: it expired, after 5 minutes) ends the session.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from services.portal.errors import SignInRefused
from services.portal.operator_backends import SERVICES, OperatorApi
from services.portal.operator_views import (
    hospital_view,
    key_metrics,
    letter_view,
    retry_owner,
    topic_lags,
)
from services.portal.repository import PageDeps, as_signed_in
from shared.errors import Conflict, InvalidInput

T = TypeVar("T")
Action = Literal["promote", "suspend", "reinstate"]
CHANGES: dict[str, dict[str, Any]] = {
    "promote": {"role": "provider"},
    "suspend": {"active": False},
    "reinstate": {"active": True},
}
LETTERS_PER_PAGE = 20


@dataclass(frozen=True)
class OperatorSession:
    """A named operator or auditor signed in: their token stays here, on the server."""

    token: str
    name: str
    roles: tuple[str, ...]
    csrf: str
    expires_at: float

    @property
    def may_change(self) -> bool:
        return "operator" in self.roles


@dataclass(kw_only=True)
class OperatorDeps(PageDeps[OperatorSession]):
    api: OperatorApi


async def sign_in(deps: OperatorDeps, token: str) -> tuple[str, OperatorSession]:
    """A valid token of a named operator or auditor; the session ends with the token."""
    who = await deps.api.identify(token)
    now = deps.clock()
    if who.expires_at <= now:
        raise SignInRefused("this token has expired: get a new one")
    session = OperatorSession(
        token=token,
        name=who.name,
        roles=who.roles,
        csrf=secrets.token_urlsafe(32),
        expires_at=min(now + deps.session_ttl_s, float(who.expires_at)),
    )
    return await deps.sessions.open(session), session


async def _as_operator(
    deps: OperatorDeps, session_id: str | None, call: Callable[[OperatorSession], Awaitable[T]]
) -> T:
    return await as_signed_in(deps.sessions, session_id, call, "sign in first")


async def hospitals(deps: OperatorDeps, session_id: str | None) -> dict[str, Any]:
    """Every participating hospital, by code."""

    async def read(_: OperatorSession) -> dict[str, Any]:
        found = [hospital_view(h) for h in await deps.api.hospitals()]
        return {"hospitals": sorted(found, key=lambda h: str(h["code"]))}

    return await _as_operator(deps, session_id, read)


async def add_hospital(
    deps: OperatorDeps, session_id: str | None, hospital: dict[str, str]
) -> dict[str, Any]:
    """Add a participating hospital (consent's ``POST /hospitals``); its credentials are
    not passed on to the page (docs/portal.md says where to read them)."""

    async def add(s: OperatorSession) -> dict[str, Any]:
        return hospital_view(await deps.api.add_hospital(s.token, hospital))

    return await _as_operator(deps, session_id, add)


async def change_hospital(
    deps: OperatorDeps, session_id: str | None, code: str, action: Action
) -> dict[str, Any]:
    """Promote to provider, suspend or reinstate (consent's ``PATCH /hospitals/{code}``)."""

    async def change(s: OperatorSession) -> dict[str, Any]:
        return hospital_view(await deps.api.change_hospital(s.token, code, CHANGES[action]))

    return await _as_operator(deps, session_id, change)


async def remove_signing_key(
    deps: OperatorDeps, session_id: str | None, code: str, kid: str
) -> dict[str, Any]:
    """Remove one of the hospital's upload signing keys (consent's ``DELETE
    /hospitals/{code}/signing-keys/{kid}``; uploads signed with it are set aside)."""

    async def remove(s: OperatorSession) -> dict[str, Any]:
        return hospital_view(await deps.api.remove_signing_key(s.token, code, kid))

    return await _as_operator(deps, session_id, remove)


async def letters(
    deps: OperatorDeps, session_id: str | None, service: str, cursor: str
) -> dict[str, Any]:
    """A page of what ``service`` set aside, oldest first, read through that service's
    ``GET /admin/deadletters``; ``next`` is the cursor of the page after (or null)."""
    if service not in SERVICES:
        raise InvalidInput(f"no service {service}", code="unknown-service")

    async def read(s: OperatorSession) -> dict[str, Any]:
        page = await deps.api.letters(s.token, service, cursor, LETTERS_PER_PAGE)
        entries = [letter_view(e, SERVICES) for e in page.get("entries") or []]
        more = bool(page.get("next"))
        return {
            "service": service,
            "entries": entries,
            "next": page.get("cursor") if more else None,
            "records_on_topic": page.get("records_on_topic"),
        }

    return await _as_operator(deps, session_id, read)


async def retry(
    deps: OperatorDeps, session_id: str | None, letter_id: str, topic: str
) -> dict[str, Any]:
    """Send one dead letter back to ``topic`` through the service that may write it."""
    via = retry_owner(topic, SERVICES)
    if via is None:
        raise Conflict(f"no service may send a letter back to {topic}", code="no-owner")

    async def send(s: OperatorSession) -> dict[str, Any]:
        done = await deps.api.retry(s.token, via, letter_id)
        return {"id": letter_id, "via": via, "retried": letter_id in done}

    return await _as_operator(deps, session_id, send)


async def audit(deps: OperatorDeps, session_id: str | None) -> dict[str, Any]:
    """The audit log verified now: every chain against its tip, the first breach of each."""

    async def verify(s: OperatorSession) -> dict[str, Any]:
        found = await deps.api.verify_audit(s.token)
        breaches = found.get("breaches") or []
        heads = found.get("heads")  # chain -> the latest signed tree size
        return {
            "ok": bool(found.get("ok")),
            "records": found.get("records"),
            "heads": len(heads) if isinstance(heads, dict) else heads,  # chains with one
            "unsigned": found.get("unsigned"),
            "breaches": len(breaches),
        }

    return await _as_operator(deps, session_id, verify)


async def _service_status(api: OperatorApi, service: str) -> dict[str, Any]:
    (ready, checks), text = await asyncio.gather(api.readiness(service), api.metrics(service))
    failing = sorted(name for name, ok in checks.items() if ok is False)
    metrics = key_metrics(text) if text is not None else None
    lags = topic_lags(text) if text is not None else None
    return {
        "service": service,
        "ready": ready,
        "failing": failing,
        "metrics": metrics,
        "lags": lags,  # per topic; replay stays on the command line (docs/portal.md)
        "replay": f"healthlink replay {service}",
    }


async def status(deps: OperatorDeps, session_id: str | None) -> dict[str, Any]:
    """Each service's readiness (``/readyz``: ready, not ready with the failing checks,
    or not answering), key metrics and each topic's consumer lag from its ``/metrics``,
    asked side by side, and the command that replays it (the CLI's alone)."""

    async def read(_: OperatorSession) -> dict[str, Any]:
        found = await asyncio.gather(*(_service_status(deps.api, s) for s in SERVICES))
        return {"services": list(found)}

    return await _as_operator(deps, session_id, read)
