"""How the portal calls the platform's services for the patient portal and the hospital
console: JSON over HTTP with the signed-in person's credential, and their refusals as
the codes the pages translate.

The services' errors are OperationOutcomes with a status and a ``diagnostics`` text and
no code, so ``outcome_error`` tells them apart by both (docs/portal.md).
"""

from __future__ import annotations

from typing import Any

import httpx

from services.portal.errors import NotSignedIn, Unavailable
from shared.errors import Conflict, Forbidden, HealthLinkError, InvalidInput, NotFound

# What the services' diagnostics say, as the codes the pages translate.
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
    (404, "Medical Council registry", "unknown-licence"),
    (404, "set-aside upload", "letter-not-found"),
    (409, "already registered", "already-registered"),
    (404, "no signing key", "key-not-found"),
    (409, "another key with kid", "kid-in-use"),
    (409, "signing keys; remove", "too-many-keys"),
    (400, "signing key refused", "invalid-key"),
    (422, "signing key refused", "invalid-key"),
)
KINDS: dict[int, type[HealthLinkError]] = {
    400: InvalidInput,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
}


def diagnostics(response: httpx.Response) -> str:
    try:
        return str(response.json()["issue"][0]["diagnostics"])
    except (ValueError, KeyError, IndexError, TypeError):
        return response.text[:200]


def outcome_error(status: int, detail: str) -> HealthLinkError:
    """The portal's error for a back end's refusal (status and diagnostics)."""
    if status == 401:
        return NotSignedIn("your session has ended: sign in again")
    kind = KINDS.get(status)
    if kind is None:
        return Unavailable(f"the service answered {status}")
    for known, text, code in CODES_BY_TEXT:
        if known == status and text in detail:
            return kind(detail, code=code)
    return kind(detail)


class JsonServices:
    """The services by name (``urls``: name → base URL), called with a bearer token."""

    def __init__(
        self,
        urls: dict[str, str],
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._urls = urls
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def ready(self, service: str) -> bool:
        try:
            return (await self._http.get(self._urls[service] + "/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def _call(
        self,
        method: str,
        service: str,
        path: str,
        token: str | None = None,
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
        raise outcome_error(r.status_code, diagnostics(r))
