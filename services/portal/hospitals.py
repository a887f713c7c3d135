"""The hospital console's use cases: sign in with the hospital's admin key, the roster
(list, add by licence, remove), this hospital's set-aside uploads and retrying one, the
data requests Health Link made of it (no web framework here;
docs/portal.md#the-hospital-console).

The admin key stays in the portal's session, as the physician's and the patient's
tokens do; every call to query, consent and ingest carries it and the services decide.
When one refuses it (401), the session ends and the page asks to sign in again.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from healthlink_adapter.contract import UPLOAD_ID_HEADER

from services.portal.errors import NotSignedIn, SignInRefused
from services.portal.hospital_backends import HospitalApi
from services.portal.repository import PageDeps, as_signed_in
from shared.errors import Conflict, NotFound, Transient

T = TypeVar("T")
# What the console shows of a set-aside upload (no payload: its size and resource counts).
LETTER_FIELDS = ("id", "reason", "detail", "time", "status", "retried_at")
# ingest's pages without this hospital's letters followed before answering (each scans at
# most 2,000 letters): the screen says "none" only at the topic's end
EMPTY_PAGES = 4
# after the console rotated the admin key, a service's refusal of the new key is "not yet
# taken" (it learns the key from consent's event) for this long, not the session's end
GRACE_S = 60.0


class KeyNotYetTaken(Transient):
    """A service still refuses the admin key made a moment ago (code ``key-not-yet-taken``)."""

    code = "key-not-yet-taken"
    retry_after_s = 2


@dataclass(frozen=True)
class HospitalSession:
    """Hospital staff signed in: the hospital's admin key stays here, on the server."""

    key: str
    hospital: str
    name: str
    csrf: str
    expires_at: float
    key_changed_at: float | None = None  # when the console last rotated the admin key


@dataclass(kw_only=True)
class HospitalDeps(PageDeps[HospitalSession]):
    api: HospitalApi


async def sign_in(deps: HospitalDeps, code: str, key: str) -> tuple[str, HospitalSession]:
    """A participating hospital, and its admin key as query's roster API accepts it."""
    try:
        hospital = await deps.api.hospital(code)
    except NotFound as exc:
        raise NotFound("not a participating hospital", code="hospital-not-found") from exc
    try:
        await deps.api.roster(key, code)
    except NotSignedIn as exc:  # query refused the key
        raise SignInRefused("the hospital code or the admin key is wrong") from exc
    session = HospitalSession(
        key=key,
        hospital=code,
        name=str(hospital.get("name") or code),
        csrf=secrets.token_urlsafe(32),
        expires_at=deps.clock() + deps.session_ttl_s,
    )
    return await deps.sessions.open(session), session


async def as_hospital(
    deps: HospitalDeps, session_id: str | None, call: Callable[[HospitalSession], Awaitable[T]]
) -> T:
    """``call`` with the signed-in hospital's session; a refused key ends the session,
    unless the console rotated it less than ``GRACE_S`` ago (``KeyNotYetTaken``)."""

    async def graced(s: HospitalSession) -> T:
        try:
            return await call(s)
        except NotSignedIn:
            if s.key_changed_at is not None and deps.clock() - s.key_changed_at < GRACE_S:
                raise KeyNotYetTaken("the new admin key is still reaching the services") from None
            raise

    return await as_signed_in(deps.sessions, session_id, graced, "sign in first")


def _roster(code: str, physicians: list[str]) -> dict[str, Any]:
    return {"hospital": code, "physicians": sorted(physicians)}


async def roster(deps: HospitalDeps, session_id: str | None) -> dict[str, Any]:
    async def read(s: HospitalSession) -> dict[str, Any]:
        return _roster(s.hospital, await deps.api.roster(s.key, s.hospital))

    return await as_hospital(deps, session_id, read)


async def add_physician(deps: HospitalDeps, session_id: str | None, licence: str) -> dict[str, Any]:
    """Add a licence of the Medical Council registry; one already on the roster is said
    so (query would answer it as a success)."""

    async def add(s: HospitalSession) -> dict[str, Any]:
        if licence in await deps.api.roster(s.key, s.hospital):
            raise Conflict(f"licence {licence} is already on the roster", code="already-on-roster")
        return _roster(s.hospital, await deps.api.add_physician(s.key, s.hospital, licence))

    return await as_hospital(deps, session_id, add)


async def remove_physician(
    deps: HospitalDeps, session_id: str | None, licence: str
) -> dict[str, Any]:
    """Take a licence off the roster: the physician's next request is refused."""

    async def remove(s: HospitalSession) -> dict[str, Any]:
        if licence not in await deps.api.roster(s.key, s.hospital):
            raise NotFound(f"licence {licence} is not on the roster", code="not-on-list")
        return _roster(s.hospital, await deps.api.remove_physician(s.key, s.hospital, licence))

    return await as_hospital(deps, session_id, remove)


def letter_view(entry: dict[str, Any]) -> dict[str, Any]:
    """A set-aside upload as the console shows it: why, when, its receipt, what it held."""
    view = {name: entry.get(name) for name in LETTER_FIELDS}
    headers = entry.get("headers") or {}
    preview = entry.get("preview") or {}
    view["upload_id"] = headers.get(UPLOAD_ID_HEADER)
    view["bytes"] = preview.get("bytes")
    view["resource_types"] = preview.get("resource_types") or {}
    return view


async def set_aside(deps: HospitalDeps, session_id: str | None, cursor: str = "") -> dict[str, Any]:
    """A page of this hospital's uploads set aside (pages go from the oldest letters to
    the newest), newest first within the page, pending before retried; ``next``: the
    cursor of the page after, or None."""

    async def read(s: HospitalSession) -> dict[str, Any]:
        page = await deps.api.set_aside(s.key, s.hospital, cursor)
        for _ in range(EMPTY_PAGES):  # ingest's page scans a bounded part of the topic
            if page["entries"] or not page["next"]:
                break
            page = await deps.api.set_aside(s.key, s.hospital, page["next"])
        entries = [letter_view(e) for e in page["entries"]]
        entries.sort(key=lambda e: str(e["time"] or ""), reverse=True)
        entries.sort(key=lambda e: e["status"] != "pending")
        return {"hospital": s.hospital, "entries": entries, "next": page["next"]}

    return await as_hospital(deps, session_id, read)


async def retry(deps: HospitalDeps, session_id: str | None, letter_id: str) -> dict[str, Any]:
    """Send one set-aside upload of this hospital back to ingest."""

    async def send(s: HospitalSession) -> dict[str, Any]:
        done = await deps.api.retry(s.key, s.hospital, letter_id)
        return {"id": letter_id, "retried": letter_id in done}

    return await as_hospital(deps, session_id, send)


REQUEST_FIELDS = ("id", "patient", "reason", "time")


async def data_requests(deps: HospitalDeps, session_id: str | None, cursor: str) -> dict[str, Any]:
    """A page of the data requests made of this hospital (oldest first) and the cursor of
    the next: what its system is asked to answer with the patient's records."""

    async def read(s: HospitalSession) -> dict[str, Any]:
        page = await deps.api.data_requests(s.key, s.hospital, cursor)
        found = [{k: r.get(k) for k in REQUEST_FIELDS} for r in page.get("requests", [])]
        return {"hospital": s.hospital, "requests": found, "next": page.get("next"),
                "more": bool(page.get("more"))}  # fmt: skip

    return await as_hospital(deps, session_id, read)
