"""Data requests over HTTP, for hospitals that upload over HTTP and run no Kafka client.

    async with HttpDataRequests("https://ingest.example", "10670", admin_key) as door:
        page = await door.page(cursor)        # cursor: None the first time
        for request in page.requests:         # the same DataRequest as on Kafka
            await uploader.send(records_of(request.patient), f"answer-{request.id}",
                                request_id=request.id)
        cursor = page.next                    # keep it once the requests are answered

``GET /hospitals/<code>/data-requests`` on ingest, with the hospital's admin key. The
hospital keeps the cursor: asking again with the same one gives the same requests,
so a crash between answering and saving the cursor repeats requests, never loses
one (answer idempotently, with an upload id derived from the request id).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

import httpx

from healthlink_adapter.datarequests import DataRequest
from healthlink_adapter.http import UploadRefused, diagnostics_of


@dataclass(frozen=True)
class RequestsPage:
    requests: list[DataRequest]
    next: str | None  # ask with it next time (None: nothing was ever asked of you)
    more: bool  # more requests were waiting: ask again at once


class HttpDataRequests:
    """Pages of one hospital's data requests from the ingest service."""

    def __init__(
        self,
        base_url: str,
        hospital: str,
        admin_key: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.hospital = hospital
        self._url = f"{base_url.rstrip('/')}/hospitals/{hospital}/data-requests"
        self._headers = {"authorization": f"Bearer {admin_key}"}
        self._own = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout_s)

    async def __aenter__(self) -> HttpDataRequests:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._own:
            await self._client.aclose()

    async def page(self, cursor: str | None = None, limit: int = 100) -> RequestsPage:
        """The requests after ``cursor``, oldest first; ``UploadRefused`` for a 4xx/5xx
        (401: not this hospital's admin key; 503: try again shortly)."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await self._client.get(self._url, params=params, headers=self._headers)
        if response.status_code != 200:
            raise UploadRefused(response.status_code, diagnostics_of(response))
        body = response.json()
        requests = [DataRequest.model_validate(r) for r in body["requests"]]
        return RequestsPage(requests, body.get("next"), bool(body.get("more")))
