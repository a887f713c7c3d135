"""Uploads over HTTP, for hospitals that do not run Kafka: ``POST /fhir`` on ingest.

    async with HttpUploader("https://ingest.example", "10670", signer) as uploader:
        receipt = await uploader.send(bundle)

The same body and headers as over Kafka. The gateway answers 202 with the
receipt once the upload is queued, or a 4xx with a FHIR OperationOutcome saying
why it was refused (``UploadRefused``). Retrying with the same ``upload_id`` is
safe: it is the same upload. ``receipt(id)`` reads what became of it
(``GET /fhir/uploads/<receipt>``, signed the same way: the receipt id is the body).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from healthlink_adapter.contract import HOSPITAL_HEADER, SIGNATURE_HEADER
from healthlink_adapter.signing import Signer
from healthlink_adapter.uploads import encode, new_upload_id, upload_headers


class UploadRefused(Exception):
    """The gateway refused an upload: HTTP status and the OperationOutcome's diagnostics."""

    def __init__(self, status: int, diagnostics: str) -> None:
        super().__init__(f"upload refused ({status}): {diagnostics}")
        self.status = status
        self.diagnostics = diagnostics


def diagnostics_of(response: httpx.Response) -> str:
    """The first issue's diagnostics of an OperationOutcome answer, else the raw text."""
    try:
        issues = response.json().get("issue") or [{}]
        return str(issues[0].get("diagnostics") or response.text[:200])
    except (ValueError, AttributeError):
        return response.text[:200]


class HttpUploader:
    """Posts signed uploads to the ingest gateway.

    ``auth``: an ``httpx.Auth`` added to every request (SMART Backend Services
    tokens, coming, plug in here). ``client``: an existing ``httpx.AsyncClient``
    to use instead of one of its own (then ``base_url`` may be relative to it).
    """

    def __init__(
        self,
        base_url: str,
        hospital: str,
        signer: Signer,
        *,
        auth: httpx.Auth | None = None,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.hospital = hospital
        self._url = base_url.rstrip("/") + "/fhir"
        self._signer = signer
        self._auth = auth
        self._own = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout_s)

    async def __aenter__(self) -> HttpUploader:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._own:
            await self._client.aclose()

    async def send_bytes(
        self, body: bytes, *, upload_id: str | None = None, request_id: str | None = None
    ) -> str:
        """Post ``body`` as it is; returns the receipt, or raises ``UploadRefused``."""
        headers = upload_headers(
            self.hospital, upload_id or new_upload_id(), body, self._signer, request_id=request_id
        )
        extra: dict[str, Any] = {"auth": self._auth} if self._auth is not None else {}
        response = await self._client.post(self._url, content=body, headers=headers, **extra)
        if response.status_code != 202:
            raise UploadRefused(response.status_code, diagnostics_of(response))
        return str(response.json()["id"])

    async def send(
        self,
        bundle: dict[str, Any],
        upload_id: str | None = None,
        *,
        request_id: str | None = None,
    ) -> str:
        """Sign and post a bundle; returns its receipt."""
        return await self.send_bytes(encode(bundle), upload_id=upload_id, request_id=request_id)

    async def receipt(self, receipt: str) -> tuple[int, dict[str, Any]]:
        """What became of an upload: ``202`` and a Task ``received`` while it waits, ``200``
        and a Task ``completed`` (stored, counts in ``output``) or ``rejected`` (set aside,
        the reason in ``statusReason``); ``UploadRefused`` for a 4xx (``404``: no such
        upload from this hospital)."""
        headers = {
            HOSPITAL_HEADER: self.hospital,
            SIGNATURE_HEADER: self._signer.sign(receipt.encode()),
        }
        extra: dict[str, Any] = {"auth": self._auth} if self._auth is not None else {}
        response = await self._client.get(
            f"{self._url}/uploads/{receipt}", headers=headers, **extra
        )
        if response.status_code not in (200, 202):
            raise UploadRefused(response.status_code, diagnostics_of(response))
        task: dict[str, Any] = response.json()
        return response.status_code, task
