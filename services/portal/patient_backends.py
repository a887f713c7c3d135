"""The patient portal's back ends: the consent, audit and notify services' patient APIs.

``PatientApi`` is the port (tests use ``tests/support/portal_fakes.py``); ``HttpPatientApi``
calls the services with the patient's token, which only the portal holds. Their errors
are OperationOutcomes with a status and a ``diagnostics`` text and no code, so
``outcome_error`` tells them apart by both (docs/portal.md).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Protocol

import httpx

from services.portal.errors import (
    NotSignedIn,
    TooManyAttempts,
    Unavailable,
    VerificationFailed,
)
from shared.errors import Conflict, Forbidden, HealthLinkError, InvalidInput, NotFound


class PatientApi(Protocol):
    async def register(self, cid: str, birth_date: str) -> None: ...

    async def verify(self, cid: str, scan: str) -> tuple[str, int]: ...

    async def hospitals(self) -> list[dict[str, Any]]: ...

    async def consent(self, token: str, cid: str) -> dict[str, Any]: ...

    async def grant_hospital(self, token: str, cid: str, code: str) -> dict[str, Any]: ...

    async def revoke_hospital(self, token: str, cid: str, code: str) -> dict[str, Any]: ...

    async def all_hospitals(self, token: str, cid: str, on: bool) -> dict[str, Any]: ...

    async def sensitive(self, token: str, cid: str, allowed: bool) -> dict[str, Any]: ...

    async def add_visit(
        self, token: str, cid: str, requesting: str, sources: list[str], until: datetime
    ) -> dict[str, Any]: ...

    async def revoke_visit(self, token: str, cid: str, visit_id: str) -> dict[str, Any]: ...

    async def revoke_everything(self, token: str, cid: str) -> dict[str, Any]: ...

    async def accesses(
        self, token: str, cid: str, offset: int, count: int
    ) -> list[dict[str, Any]]: ...

    async def inbox(
        self, token: str, cid: str, offset: int, count: int
    ) -> list[dict[str, Any]]: ...

    async def mark_read(self, token: str, cid: str, notification_id: str) -> None: ...


# What the consent service's diagnostics say, as the codes the page translates.
CODES_BY_TEXT = (
    (400, "18 or older", "under-age"),
    (400, "birth date is in the future", "invalid-birth-date"),
    (400, "CID must be 13 digits", "invalid-cid"),
    (400, "until is in the past", "until-in-past"),
    (400, "at most 90 days", "until-too-far"),
    (404, "no patient registered", "not-registered"),
    (404, "not a participating hospital", "hospital-not-found"),
    (404, "per-visit consent", "visit-not-found"),
    (404, "notification", "notification-not-found"),
    (409, "already registered", "already-registered"),
)
KINDS: dict[int, type[HealthLinkError]] = {
    400: InvalidInput,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
}
REMAINING = re.compile(r"(\d+) attempts? left")


def diagnostics(response: httpx.Response) -> str:
    try:
        return str(response.json()["issue"][0]["diagnostics"])
    except (ValueError, KeyError, IndexError, TypeError):
        return response.text[:200]


def outcome_error(status: int, detail: str, *, verifying: bool = False) -> HealthLinkError:
    """The portal's error for a back end's refusal (status and diagnostics)."""
    if status == 401 and verifying:
        found = REMAINING.search(detail)
        return VerificationFailed(detail, int(found.group(1)) if found else None)
    if status == 401:
        return NotSignedIn("your session has ended: verify your identity again")
    if status == 429:
        return TooManyAttempts(detail)
    kind = KINDS.get(status)
    if kind is None:
        return Unavailable(f"the service answered {status}")
    for known, text, code in CODES_BY_TEXT:
        if known == status and text in detail:
            return kind(detail, code=code)
    return kind(detail)


class HttpPatientApi:
    """``consent``, ``audit`` and ``notify`` are the services' base URLs."""

    def __init__(
        self,
        consent: str,
        audit: str,
        notify: str,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._urls = {"consent": consent, "audit": audit, "notify": notify}
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        service: str,
        path: str,
        token: str | None = None,
        verifying: bool = False,
        **kwargs: Any,
    ) -> Any:
        headers = {"accept": "application/json"}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        try:
            r = await self._http.request(
                method, self._urls[service] + path, headers=headers, **kwargs
            )
        except httpx.HTTPError as exc:
            raise Unavailable(f"the {service} service does not answer") from exc
        if r.status_code in (200, 201):
            try:
                return r.json()
            except ValueError as exc:
                raise Unavailable(f"the {service} service's answer is unreadable") from exc
        raise outcome_error(r.status_code, diagnostics(r), verifying=verifying)

    async def register(self, cid: str, birth_date: str) -> None:
        await self._call(
            "POST", "consent", "/patients", json={"cid": cid, "birth_date": birth_date}
        )

    async def verify(self, cid: str, scan: str) -> tuple[str, int]:
        body = await self._call(
            "POST", "consent", f"/patients/{cid}/verify", json={"scan": scan}, verifying=True
        )
        return str(body["access_token"]), int(body["expires_in"])

    async def hospitals(self) -> list[dict[str, Any]]:
        body = await self._call("GET", "consent", "/hospitals")
        return list(body["hospitals"])

    async def _consent(
        self, method: str, token: str, cid: str, path: str = "", **kwargs: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = await self._call(
            method, "consent", f"/patients/{cid}/consent{path}", token, **kwargs
        )
        return body

    async def consent(self, token: str, cid: str) -> dict[str, Any]:
        return await self._consent("GET", token, cid)

    async def grant_hospital(self, token: str, cid: str, code: str) -> dict[str, Any]:
        return await self._consent("POST", token, cid, "/hospitals", json={"hospitals": [code]})

    async def revoke_hospital(self, token: str, cid: str, code: str) -> dict[str, Any]:
        return await self._consent("DELETE", token, cid, f"/hospitals/{code}")

    async def all_hospitals(self, token: str, cid: str, on: bool) -> dict[str, Any]:
        return await self._consent("PUT" if on else "DELETE", token, cid, "/all")

    async def sensitive(self, token: str, cid: str, allowed: bool) -> dict[str, Any]:
        return await self._consent("PUT", token, cid, "/sensitive", json={"allowed": allowed})

    async def add_visit(
        self, token: str, cid: str, requesting: str, sources: list[str], until: datetime
    ) -> dict[str, Any]:
        body = {"requesting_hospital": requesting, "sources": sources, "until": until.isoformat()}
        return await self._consent("POST", token, cid, "/visits", json=body)

    async def revoke_visit(self, token: str, cid: str, visit_id: str) -> dict[str, Any]:
        return await self._consent("DELETE", token, cid, f"/visits/{visit_id}")

    async def revoke_everything(self, token: str, cid: str) -> dict[str, Any]:
        return await self._consent("DELETE", token, cid)

    async def accesses(self, token: str, cid: str, offset: int, count: int) -> list[dict[str, Any]]:
        params = {"offset": offset, "count": count}
        body = await self._call("GET", "audit", f"/patients/{cid}/accesses", token, params=params)
        return list(body["entries"])

    async def inbox(self, token: str, cid: str, offset: int, count: int) -> list[dict[str, Any]]:
        params = {"offset": offset, "count": count}
        body = await self._call("GET", "notify", f"/patients/{cid}/inbox", token, params=params)
        return list(body["entries"])

    async def mark_read(self, token: str, cid: str, notification_id: str) -> None:
        path = f"/patients/{cid}/inbox/{notification_id}/read"
        await self._call("POST", "notify", path, token)
