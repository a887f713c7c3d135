"""Webhook delivery against a real HTTP receiver on 127.0.0.1 and the real database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
import uvicorn
from pymongo.asynchronous.database import AsyncDatabase
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notify.deliveries import MongoDeliveries
from services.notify.webhook import Sender, signature_valid, webhook_key
from shared.database import Document, make_client
from shared.settings import Settings
from tests.support.clock import Clock
from tests.support.journey import eventually
from tests.support.platform import free_port
from tests.support.settings import TEST_SECRET

pytestmark = pytest.mark.integration
KEY = webhook_key(TEST_SECRET)


@dataclass
class Receiver:
    """A wallet-app endpoint: checks signatures, keeps accepted ids, scripted failures."""

    url: str = ""
    wire: list[tuple[str, bytes, bool]] = field(default_factory=list)  # id, body, signed ok
    accepted: list[str] = field(default_factory=list)
    fail_first: int = 0
    always_fail: bool = False
    hold: asyncio.Event | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        nid = request.headers["webhook-id"]
        ok = signature_valid(KEY, dict(request.headers), body)
        self.wire.append((nid, body, ok))
        self.arrived.set()
        if not ok:
            return Response(status_code=401)
        if self.always_fail or len(self.wire) <= self.fail_first:
            return Response(status_code=500)
        if nid in self.accepted:
            return Response(status_code=409)  # a repeat: already have it
        self.accepted.append(nid)
        if self.hold is not None:
            await self.hold.wait()  # the sender "crashes" before hearing back
        return Response(status_code=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    port = free_port()
    app = Starlette(routes=[Route("/hook", found.handle, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: _started(server), what="receiver listening")
    found.url = f"http://127.0.0.1:{port}/hook"
    yield found
    if found.hold is not None:
        found.hold.set()
    server.should_exit = True
    await task


async def _started(server: uvicorn.Server) -> bool:
    return server.started


@pytest.fixture
async def db(stack_settings: Settings) -> AsyncIterator[AsyncDatabase[Document]]:
    client = make_client(stack_settings)
    yield client[f"{stack_settings.db_prefix}_hook_{uuid.uuid4().hex[:8]}"]
    await client.close()


def sender(
    db: AsyncDatabase[Document], http: httpx.AsyncClient, url: str, clock: Clock, attempts: int = 4
) -> Sender:
    return Sender(MongoDeliveries(db, clock), http, url, KEY, attempts, 1.0, 2.0, clock)


async def delivery(db: AsyncDatabase[Document], notification_id: str) -> Document | None:
    return await db.deliveries.find_one({"_id": notification_id})


async def drain(s: Sender, clock: Clock, rounds: int = 10) -> None:
    """Attempt what is due, then move the clock past the next back-off, ``rounds`` times."""
    for _ in range(rounds):
        await s.send_due()
        clock.now += timedelta(seconds=60)


async def test_signed_retried_on_500s_and_queued_once(
    db: AsyncDatabase[Document], receiver: Receiver
) -> None:
    clock = Clock()
    receiver.fail_first = 2
    async with httpx.AsyncClient() as http:
        s = sender(db, http, receiver.url, clock)
        first = [("access-1", {"id": "access-1", "text": "ทดสอบ"})]
        assert await s.deliveries.enqueue_many(first) == ["access-1"]
        again = [("access-1", {"id": "access-1", "text": "again"})]
        assert await s.deliveries.enqueue_many(again) == []
        await s.send_due()
        doc = await delivery(db, "access-1")
        assert doc is not None and doc["state"] == "pending" and doc["attempts"] == 1
        first_wait = doc["next_at"] - clock.now
        clock.now += timedelta(seconds=1)
        await s.send_due()
        doc = await delivery(db, "access-1")
        assert doc is not None and doc["next_at"] - clock.now == 2 * first_wait  # exponential
        await drain(s, clock)
    doc = await delivery(db, "access-1")
    assert doc is not None and doc["state"] == "delivered" and doc["attempts"] == 3
    assert [(nid, ok) for nid, _, ok in receiver.wire] == [("access-1", True)] * 3
    assert len({body for _, body, _ in receiver.wire}) == 1
    assert "ทดสอบ".encode() in receiver.wire[0][1]
    assert receiver.accepted == ["access-1"]


async def test_set_aside_after_the_last_attempt(
    db: AsyncDatabase[Document], receiver: Receiver
) -> None:
    clock = Clock()
    receiver.always_fail = True
    async with httpx.AsyncClient() as http:
        s = sender(db, http, receiver.url, clock, attempts=3)
        await s.deliveries.enqueue_many([("consent-x-v1", {"id": "consent-x-v1"})])
        await drain(s, clock)
        assert [d["_id"] for d in await s.deliveries.set_aside(0, 10)] == ["consent-x-v1"]
        assert len(receiver.wire) == 3
        receiver.always_fail = False
        assert await s.deliveries.retry("consent-x-v1")
        await drain(s, clock, rounds=1)
    assert receiver.accepted == ["consent-x-v1"]


async def test_a_crash_mid_delivery_gives_no_duplicate_id_at_the_receiver(
    db: AsyncDatabase[Document], receiver: Receiver
) -> None:
    clock = Clock()
    receiver.hold = asyncio.Event()
    ids = [f"records-{i}" for i in range(3)]
    async with httpx.AsyncClient() as http:
        first = sender(db, http, receiver.url, clock)
        await first.deliveries.enqueue_many([(nid, {"id": nid}) for nid in ids])
        crashing = asyncio.create_task(first.send_due())
        await eventually(_arrived(receiver), what="first delivery at the receiver")
        crashing.cancel()  # the process dies while the receiver is answering
        await asyncio.gather(crashing, return_exceptions=True)
        receiver.hold.set()
        doc = await delivery(db, ids[0])
        assert doc is not None and doc["state"] == "sending"
        restarted = sender(db, http, receiver.url, clock)
        await drain(restarted, clock, rounds=3)  # the lease runs out; same id, same bytes
    assert sorted(receiver.accepted) == ids  # each id accepted exactly once
    repeats = [w for w in receiver.wire if w[0] == ids[0]]
    assert len(repeats) == 2 and repeats[0][1] == repeats[1][1] and all(w[2] for w in repeats)
    for nid in ids:
        doc = await delivery(db, nid)
        assert doc is not None and doc["state"] == "delivered"


def _arrived(receiver: Receiver):  # type: ignore[no-untyped-def]
    async def probe() -> bool:
        return receiver.arrived.is_set()

    return probe
