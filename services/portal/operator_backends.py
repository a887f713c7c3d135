"""The operator view's back ends, called with the operator's own token (which only the
portal's session holds): consent's hospital API (and its signing keys), every service's
dead letters, readiness and metrics, and the audit log's verification
(docs/portal.md#the-operator-view).

``OperatorApi`` is the port (tests use ``tests/support/operator_fakes.py``). The token is
checked here as every service checks it (``shared.auth.TokenVerifier`` against the auth
service's JWK set): a named operator's or auditor's access token; the bootstrap token is
not taken, so every action in the view is a named person's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from services.portal.backends import JsonServices
from services.portal.errors import SignInRefused, Unavailable
from shared.auth import TokenVerifier
from shared.errors import Forbidden, Transient, Unauthorized
from shared.operators import ROLES

# The services an operator looks after, in the order the view lists them.
SERVICES = ("consent", "ingest", "query", "audit", "notify", "auth")


@dataclass(frozen=True)
class Who:
    """The holder of a valid operator's or auditor's token."""

    name: str
    roles: tuple[str, ...]
    expires_at: int


class OperatorApi(Protocol):
    async def identify(self, token: str) -> Who: ...

    async def hospitals(self) -> list[dict[str, Any]]: ...

    async def add_hospital(self, token: str, hospital: dict[str, str]) -> dict[str, Any]: ...

    async def change_hospital(
        self, token: str, code: str, change: dict[str, Any]
    ) -> dict[str, Any]: ...

    async def remove_signing_key(self, token: str, code: str, kid: str) -> dict[str, Any]: ...

    async def letters(
        self, token: str, service: str, cursor: str, limit: int
    ) -> dict[str, Any]: ...

    async def retry(self, token: str, via: str, letter_id: str) -> list[str]: ...

    async def verify_audit(self, token: str) -> dict[str, Any]: ...

    async def readiness(self, service: str) -> tuple[bool | None, dict[str, Any]]: ...

    async def metrics(self, service: str) -> str | None: ...


class HttpOperatorApi(JsonServices):
    """``urls``: each of ``SERVICES``' base URL; ``verifier``: the auth service's tokens."""

    def __init__(self, urls: dict[str, str], timeout_s: float, verifier: TokenVerifier) -> None:
        super().__init__(urls, timeout_s)
        self._verifier = verifier

    async def identify(self, token: str) -> Who:
        try:
            principal = await self._verifier.verify(token)
        except Unauthorized as exc:
            raise SignInRefused("not a valid operator's or auditor's token") from exc
        except (Transient, httpx.HTTPError) as exc:
            raise Unavailable("the auth service does not answer") from exc
        roles = tuple(role for role in principal.roles if role in ROLES)
        if not roles:
            raise Forbidden("this token is not an operator's or an auditor's", code="not-operator")
        return Who(principal.client_id, roles, principal.expires_at)

    async def hospitals(self) -> list[dict[str, Any]]:
        body = await self._call("GET", "consent", "/hospitals")
        return list(body["hospitals"])

    async def add_hospital(self, token: str, hospital: dict[str, str]) -> dict[str, Any]:
        found: dict[str, Any] = await self._call(
            "POST", "consent", "/hospitals", token, json=hospital
        )
        return found

    async def change_hospital(
        self, token: str, code: str, change: dict[str, Any]
    ) -> dict[str, Any]:
        path = f"/hospitals/{code}"
        found: dict[str, Any] = await self._call("PATCH", "consent", path, token, json=change)
        return found

    async def remove_signing_key(self, token: str, code: str, kid: str) -> dict[str, Any]:
        """Consent's ``DELETE /hospitals/{code}/signing-keys/{kid}`` (kid quoted)."""
        path = f"/hospitals/{code}/signing-keys/{quote(kid, safe='')}"
        found: dict[str, Any] = await self._call("DELETE", "consent", path, token)
        return found

    async def letters(self, token: str, service: str, cursor: str, limit: int) -> dict[str, Any]:
        params = {"service": service, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        found: dict[str, Any] = await self._call(
            "GET", service, "/admin/deadletters", token, params=params
        )
        return found

    async def retry(self, token: str, via: str, letter_id: str) -> list[str]:
        path = "/admin/deadletters/retry"
        body = await self._call("POST", via, path, token, json={"ids": [letter_id]})
        return [str(i) for i in body["ids"]]

    async def verify_audit(self, token: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._call("GET", "audit", "/audit/verify", token)
        return found

    async def readiness(self, service: str) -> tuple[bool | None, dict[str, Any]]:
        """Ready or not with the service's checks; ``None``: it does not answer."""
        try:
            r = await self._http.get(self._urls[service] + "/readyz")
        except httpx.HTTPError:
            return None, {}
        try:
            body = r.json()
        except ValueError:
            body = {}
        checks = body.get("checks") if isinstance(body, dict) else None
        return r.status_code == 200, checks if isinstance(checks, dict) else {}

    async def metrics(self, service: str) -> str | None:
        try:
            r = await self._http.get(self._urls[service] + "/metrics")
        except httpx.HTTPError:
            return None
        return r.text if r.status_code == 200 else None
