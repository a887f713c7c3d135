"""The data-request door over in-memory fakes, through the adapter's ``HttpDataRequests``:
the hospital's admin key, the page's shape, clear 4xx for a wrong key or cursor."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from healthlink_adapter import DataRequest, HttpDataRequests, UploadRefused

from services.ingest.app import create_app
from services.ingest.datarequests import RequestPage
from services.ingest.settings import IngestSettings
from shared.errors import InvalidInput
from tests.support.cids import CID
from tests.support.credentials import admin_key
from tests.support.ingest import CONSUMER, PROVIDER, SECRET, memory_deps

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)


class FakePages:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, int]] = []

    async def page(self, code: str, cursor: str, limit: int) -> RequestPage:
        self.asked.append((code, cursor, limit))
        if cursor == "bad":
            raise InvalidInput("cursor: not a token this API gave (use the `next` link)")
        found = DataRequest(id="r-1", hospital=code, patient=CID, reason="consent.granted",
                            time=NOW)  # fmt: skip
        return RequestPage([found] if not cursor else [], "next-1", more=not cursor)


async def test_a_hospital_polls_its_requests_with_its_admin_key() -> None:
    settings = IngestSettings(environment="test", token_secret=SECRET, admin_token="op")
    app = create_app(settings, deps=await memory_deps(lambda: NOW))
    app.state.request_pages = pages = FakePages()
    key = admin_key(PROVIDER)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        async with HttpDataRequests("http://t", PROVIDER, key, client=http) as door:
            first = await door.page()
            assert [(r.id, r.patient, r.hospital) for r in first.requests] == [
                ("r-1", CID, PROVIDER)
            ]
            assert (first.next, first.more) == ("next-1", True)
            later = await door.page(first.next, limit=10)
            assert later.requests == [] and not later.more
            with pytest.raises(UploadRefused) as bad:
                await door.page("bad")
            assert bad.value.status == 400 and "cursor" in bad.value.diagnostics
        asked = [(PROVIDER, "", 100), (PROVIDER, "next-1", 10), (PROVIDER, "bad", 100)]
        assert pages.asked == asked
        url = f"/hospitals/{PROVIDER}/data-requests"
        other_key = admin_key(CONSUMER)
        for headers in ({}, {"authorization": f"Bearer {other_key}"}):
            r = await http.get(url, headers=headers)
            assert r.status_code == 401, r.text
            assert r.json()["resourceType"] == "OperationOutcome"
        r = await http.get("/hospitals/1067/data-requests", headers={"authorization": "Bearer x"})
        assert r.status_code in (400, 404, 422) and r.status_code != 500
    assert len(pages.asked) == 3  # refused requests never reached the topic
