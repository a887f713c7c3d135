"""One-time codes to the patient's phone: the ``OtpSender`` port and its senders.

- ``FileOtpSender`` (development): writes the latest code of each CID to
  ``<data_dir>/otp/<cid>.txt``, where tests and ``make up``'s demo read it on this
  machine; never served over HTTP. Refused in production (``AuthSettings``).
- ``WebhookOtpSender`` (production): posts ``{"cid", "code"}`` to the messaging
  provider's URL, which knows the phone number on file for the CID.
- ``RecordingOtpSender``: the fake for unit tests.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Protocol

import httpx

from services.auth.errors import VerifierUnavailable


class OtpSender(Protocol):
    async def send(self, cid: str, code: str) -> None: ...


class FileOtpSender:
    def __init__(self, data_dir: str | Path) -> None:
        self.folder = Path(data_dir) / "otp"

    def path(self, cid: str) -> Path:
        return self.folder / f"{cid}.txt"

    async def send(self, cid: str, code: str) -> None:
        await asyncio.to_thread(self._write, cid, code)

    def _write(self, cid: str, code: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(cid)
        temp = path.with_suffix(".tmp")
        temp.write_text(code + "\n")
        os.chmod(temp, 0o600)
        temp.replace(path)


class WebhookOtpSender:
    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.http = httpx.AsyncClient(timeout=timeout_s)  # kept: one TLS context, pooled

    async def close(self) -> None:
        await self.http.aclose()

    async def send(self, cid: str, code: str) -> None:
        try:
            response = await self.http.post(self.url, json={"cid": cid, "code": code})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise VerifierUnavailable("the one-time code could not be sent; try again") from exc


class RecordingOtpSender:
    def __init__(self) -> None:
        self.sent: dict[str, str] = {}

    async def send(self, cid: str, code: str) -> None:
        self.sent[cid] = code
