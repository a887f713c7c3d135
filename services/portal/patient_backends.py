"""The patient portal's back ends: the consent, audit and notify services' patient APIs.

``PatientApi`` is the port (tests use ``tests/support/portal_fakes.py``); ``HttpPatientApi``
calls the services with the patient's token, which only the portal holds; their
refusals become the page's codes in ``backends.outcome_error`` (docs/portal.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import httpx

from services.portal.backends import JsonServices, outcome_error

__all__ = ["HttpPatientApi", "PatientApi", "outcome_error"]


class PatientApi(Protocol):
    async def register(self, cid: str, birth_date: str) -> None: ...

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


class HttpPatientApi(JsonServices):
    """``consent``, ``audit`` and ``notify`` are the services' base URLs."""

    def __init__(
        self,
        consent: str,
        audit: str,
        notify: str,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        urls = {"consent": consent, "audit": audit, "notify": notify}
        super().__init__(urls, timeout_s, transport)

    async def register(self, cid: str, birth_date: str) -> None:
        await self._call(
            "POST", "consent", "/patients", json={"cid": cid, "birth_date": birth_date}
        )

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
