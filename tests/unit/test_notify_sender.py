"""The webhook sender over the in-memory queue and httpx's MockTransport (no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.notify.deliveries import MemoryDeliveries
from services.notify.webhook import Sender, signature_valid, webhook_key
from tests.support.clock import Clock

pytestmark = pytest.mark.unit
KEY = webhook_key("s")


class Receiver:
    """Answers from a script, one status per request (``0``: the network fails)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        status = self.statuses.pop(0)
        if status == 0:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(status)


async def run(receiver: Receiver, attempts: int, rounds: int) -> MemoryDeliveries:
    clock = Clock(datetime(2026, 3, 1, 5, tzinfo=UTC))
    queue = MemoryDeliveries(clock)
    await queue.enqueue_many([("n1", {"id": "n1", "text": "ทดสอบ"})])
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        sender = Sender(queue, http, "http://wallet/hook", KEY, attempts, 1.0, 2.0, clock)
        for _ in range(rounds):
            await sender.send_due()
            clock.now += timedelta(minutes=1)
    return queue


async def test_retried_after_5xx_and_network_errors_then_delivered_signed() -> None:
    receiver = Receiver(500, 0, 429, 204)
    queue = await run(receiver, attempts=6, rounds=6)
    assert queue.docs["n1"]["state"] == "delivered" and queue.docs["n1"]["attempts"] == 4
    bodies = {request.content for request in receiver.seen}
    assert len(bodies) == 1 and "ทดสอบ".encode() in bodies.pop()
    assert all(signature_valid(KEY, r.headers, r.content) for r in receiver.seen)
    assert {r.headers["webhook-id"] for r in receiver.seen} == {"n1"}


async def test_a_repeat_answered_409_counts_as_delivered() -> None:
    queue = await run(Receiver(409), attempts=6, rounds=2)
    assert queue.docs["n1"]["state"] == "delivered"


async def test_other_4xx_sets_aside_at_once_and_the_last_attempt_too() -> None:
    refused = await run(Receiver(400), attempts=6, rounds=3)
    assert await refused.set_aside(0, 10) == [
        {k: v for k, v in refused.docs["n1"].items() if k != "body"}
    ]
    assert refused.docs["n1"]["last_error"] == "HTTP 400"
    failing = await run(Receiver(500, 502, 503), attempts=3, rounds=5)
    assert failing.docs["n1"]["state"] == "set-aside" and failing.docs["n1"]["attempts"] == 3
    assert await failing.retry("n1") and failing.docs["n1"]["attempts"] == 0


async def test_a_delivery_whose_sender_crashed_is_claimed_before_the_due_ones() -> None:
    clock = Clock(datetime(2026, 3, 1, 5, tzinfo=UTC))
    queue = MemoryDeliveries(clock)
    await queue.enqueue_many([("n1", {"id": "n1"})])
    crashed = await queue.claim(timedelta(seconds=30))  # its sender dies holding it
    assert crashed is not None and crashed["_id"] == "n1"
    await queue.enqueue_many([("n2", {"id": "n2"}), ("n3", {"id": "n3"})])
    assert await queue.claim(timedelta(seconds=30)) is not None  # n2: n1's lease holds
    clock.now += timedelta(minutes=1)
    again = await queue.claim(timedelta(seconds=30))
    assert again is not None and (again["_id"], again["attempts"]) == ("n1", 2)
    after = await queue.claim(timedelta(seconds=30))
    assert after is not None and after["_id"] == "n2"  # its lease ran out too, then n3
    last = await queue.claim(timedelta(seconds=30))
    assert last is not None and last["_id"] == "n3"
    assert await queue.claim(timedelta(seconds=30)) is None
