"""The portal's ports: its sessions, and the query service it reads through.

``MemorySessions`` keeps the sessions in the process (one portal instance; a restart
signs everyone out — docs/portal.md): the physicians' and, in a store of their own, the
patients' (``patient_backends.py`` holds the patient portal's other ports).
``HttpQuery`` is the query service's HTTP API; tests use ``tests/support/portal_fakes.py``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import httpx

from services.portal.errors import NotSignedIn, QueryUnavailable, Refused
from shared.errors import InvalidInput
from shared.fhir import FHIR_JSON

PAGE_SIZE = 1000  # the query service's largest page
MAX_PAGES = 100


class Expiring(Protocol):
    @property
    def expires_at(self) -> float: ...


S = TypeVar("S", bound=Expiring)
T = TypeVar("T")


class Sessions(Protocol[S]):
    async def open(self, session: S) -> str: ...

    async def find(self, session_id: str) -> S | None: ...

    async def close(self, session_id: str) -> None: ...

    async def replace(self, session_id: str, session: S) -> None: ...


@dataclass(kw_only=True)
class PageDeps(Generic[S]):
    """What a page's use cases have in common: its sessions, their longest life, a clock
    (each page adds its back ends)."""

    sessions: Sessions[S]
    session_ttl_s: int = 900
    clock: Callable[[], float] = field(default=time.time)

    async def signed_out(self, session: S, ref: str) -> None:
        """After sign-out forgot ``session`` (``ref``: its stored id, for logs): what the
        page does besides, best effort and never raising (nothing by default)."""


class QueryApi(Protocol):
    async def everything(self, token: str, cid: str) -> dict[str, Any]: ...

    async def break_glass(self, token: str, cid: str, reason: str) -> dict[str, Any]: ...


class RecordApi(Protocol):
    """The patient portal's "my record": the whole ``$everything``, every page."""

    async def everything_pages(self, token: str, cid: str) -> dict[str, Any]: ...


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def session_ref(session_id: str) -> str:
    """A session named in logs: the start of its stored id (never the cookie itself)."""
    return _key(session_id)[:12]


class MemorySessions(Generic[S]):
    """Sessions by the SHA-256 of their id (the cookie's value is never stored)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._by_key: dict[str, S] = {}
        self._clock = clock

    async def open(self, session: S) -> str:
        now = self._clock()
        for key in [k for k, s in self._by_key.items() if s.expires_at <= now]:
            del self._by_key[key]
        session_id = secrets.token_urlsafe(32)
        self._by_key[_key(session_id)] = session
        return session_id

    async def find(self, session_id: str) -> S | None:
        session = self._by_key.get(_key(session_id))
        if session is None or session.expires_at <= self._clock():
            self._by_key.pop(_key(session_id), None)
            return None
        return session

    async def close(self, session_id: str) -> None:
        self._by_key.pop(_key(session_id), None)

    async def replace(self, session_id: str, session: S) -> None:
        """The session under ``session_id`` is now ``session`` (a credential changed)."""
        if _key(session_id) in self._by_key:
            self._by_key[_key(session_id)] = session


async def as_signed_in(
    sessions: Sessions[S], session_id: str | None, call: Callable[[S], Awaitable[T]], hint: str
) -> T:
    """Run ``call`` with the session (none: ``NotSignedIn`` with ``hint``); a credential
    the back end refuses (``NotSignedIn``) ends the session."""
    session = await sessions.find(session_id) if session_id else None
    if session is None:
        raise NotSignedIn(hint)
    try:
        return await call(session)
    except NotSignedIn:
        if session_id:
            await sessions.close(session_id)
        raise


def _diagnostics(response: httpx.Response) -> str:
    try:
        body = response.json()
        return str(body["issue"][0]["diagnostics"])
    except (ValueError, KeyError, IndexError, TypeError):
        return response.text[:200]


class HttpQuery:
    """The query service's public FHIR API: ``GET /fhir/Patient/{cid}/$everything`` with
    the physician's SMART access token."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self._base = base_url
        self._http = httpx.AsyncClient(timeout=timeout_s)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, self._base + path, **kwargs)
        except httpx.HTTPError as exc:
            raise QueryUnavailable(
                f"the query service does not answer: {type(exc).__name__}"
            ) from exc

    async def ready(self) -> bool:
        try:
            return (await self._http.get(self._base + "/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def everything(self, token: str, cid: str, offset: int = 0) -> dict[str, Any]:
        r = await self._call(
            "GET",
            f"/fhir/Patient/{cid}/$everything",
            params={"_count": str(PAGE_SIZE), "_offset": str(offset)},
            headers={"authorization": f"Bearer {token}", "accept": FHIR_JSON},
        )
        if r.status_code == 200:
            body: dict[str, Any] = r.json()
            return body
        detail = _diagnostics(r)
        errors = {401: NotSignedIn, 403: Refused, 400: InvalidInput}
        raise errors.get(r.status_code, QueryUnavailable)(detail)

    async def break_glass(self, token: str, cid: str, reason: str) -> dict[str, Any]:
        """``POST /patients/{cid}/break-glass``: an emergency declared (audited, the
        patient told) → ``{"until"}``."""
        r = await self._call(
            "POST",
            f"/patients/{cid}/break-glass",
            json={"reason": reason},
            headers={"authorization": f"Bearer {token}", "accept": "application/json"},
        )
        if r.status_code in (200, 201):
            body: dict[str, Any] = r.json()
            return body
        errors = {401: NotSignedIn, 403: Refused, 400: InvalidInput, 422: InvalidInput}
        raise errors.get(r.status_code, QueryUnavailable)(_diagnostics(r))

    async def everything_pages(self, token: str, cid: str) -> dict[str, Any]:
        """Every page of ``$everything`` (at most ``MAX_PAGES``) as one Bundle: the
        pages are asked for by offset, never by a URL the answer names."""
        entries: list[Any] = []
        for page in range(MAX_PAGES):
            bundle = await self.everything(token, cid, page * PAGE_SIZE)
            for entry in bundle.get("entry") or []:  # a collection: no search modes
                if isinstance(entry, dict) and (entry.get("search") or {}).get("mode") != "outcome":
                    entries.append({k: v for k, v in entry.items() if k != "search"})
            links = bundle.get("link") or []
            if not any(isinstance(k, dict) and k.get("relation") == "next" for k in links):
                break
        else:
            raise QueryUnavailable("the record has more pages than the portal reads")
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": entries,
        }
