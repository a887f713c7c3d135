"""``shared/logging.py``: HTTP clients' request lines (a URL may hold a patient's CID, as
``Patient/{cid}/$everything`` does) never reach a service's log."""

from __future__ import annotations

import logging

import httpx
import pytest

from shared.logging import configure_logging

pytestmark = pytest.mark.unit
CID = "1101700230708"


async def test_a_request_url_with_a_cid_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging("portal", "INFO")
    caplog.set_level(logging.INFO)  # the root at INFO, as a service runs
    transport = httpx.MockTransport(lambda _: httpx.Response(200, json={}))
    async with httpx.AsyncClient(transport=transport) as http:
        await http.get(f"http://query.test/fhir/Patient/{CID}/$everything")
    assert CID not in caplog.text
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
