"""Data-request subscriptions on the real database and broker: the subscriptions kept on
FerretDB (one per hospital), and ingest's delivery consumer (its own group, a pattern over
every hospital's request topic, as the ``ingest`` principal) notifying a loopback
endpoint, then setting aside on the dead-letter topic a request it cannot deliver."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from services.ingest.delivery import UNDELIVERED, Delivery, deliver_requests
from services.ingest.subscriptions import TOPIC_URL, parse_subscription
from services.ingest.subscriptionstore import MongoSubscriptions
from shared.admin import read_book
from shared.cid import random_cid
from shared.database import make_client
from shared.kafka_topics import ensure_topics
from shared.runtime import make_runtime
from shared.settings import Settings
from tests.integration.test_adapter_datarequests import request

pytestmark = pytest.mark.integration
SUBSCRIBED, BROKEN = "10670", "13781"
CID = random_cid(random.Random(13))


@contextmanager
def endpoint(status: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback endpoint answering ``status`` to every POST, keeping what it received."""
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/notify", received
    finally:
        server.shutdown()
        server.server_close()


def registration(url: str) -> dict[str, Any]:
    return {"resourceType": "Subscription", "status": "requested", "reason": "it",
            "criteria": TOPIC_URL, "channel": {"type": "rest-hook", "endpoint": url}}  # fmt: skip


async def until(probe: Any, timeout_s: float = 45.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not (found := await probe()):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.3)
    return found


async def test_a_request_is_notified_or_set_aside(settings: Settings) -> None:
    await ensure_topics(settings)
    start = datetime.now(UTC) - timedelta(seconds=5)
    client = make_client(settings)
    store = MongoSubscriptions(client[settings.db_name("ingest")])
    with endpoint(200) as (good, received), endpoint(500) as (bad, refused):
        first = parse_subscription(registration(good), SUBSCRIBED, "test", start)
        assert await store.add(first)
        assert not await store.add(parse_subscription(registration(bad), SUBSCRIBED, "test", start))
        assert await store.add(parse_subscription(registration(bad), BROKEN, "test", start))
        assert (await store.of(SUBSCRIBED)) == first
        runtime = make_runtime(settings, "ingest")
        http = httpx.AsyncClient(timeout=2.0)
        delivery = Delivery(store, http, lambda: datetime.now(UTC), backoff_s=0.05)
        deliver_requests(runtime, settings, delivery)
        async with runtime.running():
            await request(settings, CID, SUBSCRIBED, "r-sub-1")
            await request(settings, CID, BROKEN, "r-sub-2")

            async def notified() -> bool:
                return any("r-sub-1" in json.dumps(n) for n in received)

            await until(notified)

            async def set_aside() -> list[Any]:
                book = await read_book(settings, "ingest")
                return [x for x in book.letters if x.reason == UNDELIVERED]

            [letter] = await until(set_aside)

            async def reported() -> bool:  # the delivery group's lag beside the service's
                lags = await runtime.lags()
                return any(t.endswith(f".{SUBSCRIBED}") for t, _ in lags) and any(
                    t.endswith(f".{BROKEN}") for t, _ in lags
                )

            assert await until(reported)
        assert letter.source.topic.endswith(f".{BROKEN}") and "answered 500" in letter.detail
        assert len(refused) == 3  # three attempts, then set aside
    assert await store.remove(SUBSCRIBED, first.id)
    assert await store.of(SUBSCRIBED) is None
    await client.close()
