"""The notify HTTP API over in-memory fakes: inbox, preferences, the webhook's set-aside."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.notify.app import create_app
from services.notify.domain import Notice
from services.notify.handlers import Deps, notify
from services.notify.settings import NotifySettings
from services.notify.texts import Text
from shared import tokens
from shared.broker import RecordingPublisher
from tests.support.cids import CID, OTHER
from tests.support.clock import Clock
from tests.support.notify import memory_deps

pytestmark = pytest.mark.unit
OPERATOR = {"authorization": "Bearer op-token"}
TEXT = Text("หัวข้อ", "เนื้อความ", "Title", "Body")
START = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)


def patient(cid: str = CID) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens.issue('s', tokens.PATIENT, cid, 600)}"}


async def client_of(deps: Deps) -> AsyncIterator[httpx.AsyncClient]:
    settings = NotifySettings(environment="test", token_secret="s", admin_token="op-token")
    app = create_app(settings, deps=deps)  # the lifespan (broker, database) never starts
    app.state.security_publisher = RecordingPublisher()  # operators' actions
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def deps(clock: Clock) -> Deps:
    return memory_deps(clock)


@pytest.fixture
async def client(deps: Deps) -> AsyncIterator[httpx.AsyncClient]:
    async for http in client_of(deps):
        yield http


async def test_the_inbox_newest_first_paged_and_marked_read(
    client: httpx.AsyncClient, deps: Deps, clock: Clock
) -> None:
    for n in range(3):
        await notify(deps, [Notice(f"n{n}", CID, "record-accessed", TEXT, {"n": n})])
        clock.now += timedelta(minutes=1)
    await notify(deps, [Notice("theirs", OTHER, "record-accessed", TEXT, {})])
    r = await client.get(f"/patients/{CID}/inbox?count=2", headers=patient())
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["count"] == 2 and [e["id"] for e in page["entries"]] == ["n2", "n1"]
    assert page["entries"][0]["title_th"] == "หัวข้อ" and "patient" not in page["entries"][0]
    r = await client.post(f"/patients/{CID}/inbox/n0/read", headers=patient())
    assert r.json() == {"id": "n0", "read": True}
    r = await client.get(f"/patients/{CID}/inbox?offset=2", headers=patient())
    assert [(e["id"], e["read"]) for e in r.json()["entries"]] == [("n0", True)]


async def test_a_patient_sees_only_their_own_inbox(client: httpx.AsyncClient) -> None:
    cases = [
        ("get", f"/patients/{OTHER}/inbox", patient(), 403),
        ("get", f"/patients/{CID}/inbox", {}, 401),
        ("post", f"/patients/{CID}/inbox/theirs/read", patient(), 404),
        ("get", f"/patients/{CID}/inbox?count=0", patient(), 400),
        ("get", f"/patients/{OTHER}/preferences", patient(), 403),
    ]
    for method, url, headers, status in cases:
        r = await client.request(method, url, headers=headers)
        assert r.status_code == status, (url, r.text)
        assert r.json()["resourceType"] == "OperationOutcome"


async def test_preferences_hourly_or_immediate(client: httpx.AsyncClient) -> None:
    url = f"/patients/{CID}/preferences"
    r = await client.get(url, headers=patient())
    assert r.json() == {"cid": CID, "accesses": "immediate", "break_glass": "immediate"}
    r = await client.put(url, headers=patient(), json={"accesses": "hourly"})
    assert r.status_code == 200 and r.json()["accesses"] == "hourly"
    assert (await client.get(url, headers=patient())).json()["accesses"] == "hourly"
    bad = await client.put(url, headers=patient(), json={"accesses": "weekly"})
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"


async def test_operators_list_and_retry_set_aside_deliveries(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    await notify(deps, [Notice("n1", CID, "record-accessed", TEXT, {})])
    assert deps.deliveries is not None
    claimed = await deps.deliveries.claim(timedelta(seconds=10))
    assert claimed is not None
    await deps.deliveries.finish("n1", "set-aside", last_error="HTTP 400")
    assert (await client.get("/webhook/set-aside")).status_code == 401
    assert (await client.get("/webhook/set-aside", headers=patient())).status_code == 401
    r = await client.get("/webhook/set-aside", headers=OPERATOR)
    assert r.json()["entries"] == [{"id": "n1", "attempts": 1, "error": "HTTP 400"}]
    r = await client.post("/webhook/set-aside/n1/retry", headers=OPERATOR)
    assert r.json() == {"id": "n1", "state": "pending"}
    again = await client.post("/webhook/set-aside/n1/retry", headers=OPERATOR)
    assert again.status_code == 404
    assert (await client.get("/webhook/set-aside", headers=OPERATOR)).json()["count"] == 0


async def test_without_a_webhook_the_set_aside_is_not_found(clock: Clock) -> None:
    async for http in client_of(memory_deps(clock, webhook=False)):
        r = await http.get("/webhook/set-aside", headers=OPERATOR)
        assert r.status_code == 404 and "no webhook" in r.text
