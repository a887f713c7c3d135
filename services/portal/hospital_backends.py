"""The hospital console's back ends, called with the hospital's admin key (which only the
portal's session holds): query's roster API, consent's hospital list, and the hospital's
own set-aside uploads and data requests on ingest (``shared/hospital_letters.py``; ingest
is the service that may send an upload back to its topic; ``GET /hospitals/{code}/
data-requests``, services/ingest/datarequests.py), and the hospital's credentials on
consent (``services/consent/keys_api.py``: rotate the admin key, add and remove signing
keys, each with the current admin key).

``HospitalApi`` is the port (tests use ``tests/support/hospital_fakes.py``).
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from services.portal.backends import JsonServices
from services.portal.errors import NotSignedIn


class HospitalApi(Protocol):
    async def hospital(self, code: str) -> dict[str, Any]: ...

    async def roster(self, key: str, code: str) -> list[str]: ...

    async def add_physician(self, key: str, code: str, licence: str) -> list[str]: ...

    async def remove_physician(self, key: str, code: str, licence: str) -> list[str]: ...

    async def set_aside(self, key: str, code: str, cursor: str = "") -> dict[str, Any]: ...

    async def retry(self, key: str, code: str, letter_id: str) -> list[str]: ...

    async def data_requests(self, key: str, code: str, cursor: str) -> dict[str, Any]: ...

    async def add_signing_key(self, key: str, code: str, jwk: dict[str, Any]) -> dict[str, Any]: ...

    async def remove_signing_key(self, key: str, code: str, kid: str) -> dict[str, Any]: ...

    async def rotate_admin_key(self, key: str, code: str) -> str: ...

    async def key_taken(self, key: str, code: str) -> bool: ...


class HttpHospitalApi(JsonServices):
    """``urls``: the ``query``, ``consent`` and ``ingest`` services' base URLs."""

    async def hospital(self, code: str) -> dict[str, Any]:
        """The participating hospital (public): name, role, consent mode, active."""
        body: dict[str, Any] = await self._call("GET", "consent", f"/hospitals/{code}")
        return body

    async def _roster(self, method: str, key: str, code: str, path: str = "", **kw: Any) -> Any:
        body = await self._call(method, "query", f"/hospitals/{code}/physicians{path}", key, **kw)
        return [str(licence) for licence in body["physicians"]]

    async def roster(self, key: str, code: str) -> list[str]:
        found: list[str] = await self._roster("GET", key, code)
        return found

    async def add_physician(self, key: str, code: str, licence: str) -> list[str]:
        found: list[str] = await self._roster("POST", key, code, json={"licence": licence})
        return found

    async def remove_physician(self, key: str, code: str, licence: str) -> list[str]:
        found: list[str] = await self._roster("DELETE", key, code, f"/{licence}")
        return found

    async def set_aside(self, key: str, code: str, cursor: str = "") -> dict[str, Any]:
        """A page of the hospital's set-aside uploads: ``entries`` and ``next``, the
        cursor of the page after (None at the end)."""
        params = {"cursor": cursor} if cursor else {}
        path = f"/hospitals/{code}/deadletters"
        body = await self._call("GET", "ingest", path, key, params=params)
        return {"entries": list(body["entries"]), "next": body["cursor"] if body["next"] else None}

    async def retry(self, key: str, code: str, letter_id: str) -> list[str]:
        path = f"/hospitals/{code}/deadletters/{letter_id}/retry"
        body = await self._call("POST", "ingest", path, key)
        return [str(i) for i in body["ids"]]

    async def data_requests(self, key: str, code: str, cursor: str) -> dict[str, Any]:
        """A page of the data requests Health Link made of this hospital, oldest first."""
        params = {"cursor": cursor} if cursor else {}
        path = f"/hospitals/{code}/data-requests"
        body: dict[str, Any] = await self._call("GET", "ingest", path, key, params=params)
        return body

    async def add_signing_key(self, key: str, code: str, jwk: dict[str, Any]) -> dict[str, Any]:
        """Register a public signing key; the hospital's state with every key."""
        path = f"/hospitals/{code}/signing-keys"
        body: dict[str, Any] = await self._call("POST", "consent", path, key, json=jwk)
        return body

    async def remove_signing_key(self, key: str, code: str, kid: str) -> dict[str, Any]:
        """Remove the signing key ``kid`` (any ASCII: quoted into the path)."""
        path = f"/hospitals/{code}/signing-keys/{quote(kid, safe='')}"
        body: dict[str, Any] = await self._call("DELETE", "consent", path, key)
        return body

    async def rotate_admin_key(self, key: str, code: str) -> str:
        """A new admin key from consent (shown this once); the old one is refused next."""
        body = await self._call("POST", "consent", f"/hospitals/{code}/admin-key", key)
        return str(body["admin_key"])

    async def key_taken(self, key: str, code: str) -> bool:
        """Whether query and ingest take ``key`` already (they learn a rotated key from
        consent's event, a moment after consent answers)."""
        try:
            await self._call("GET", "query", f"/hospitals/{code}/physicians", key)
            path = f"/hospitals/{code}/deadletters"
            await self._call("GET", "ingest", path, key, params={"limit": "1"})
        except NotSignedIn:
            return False
        return True
