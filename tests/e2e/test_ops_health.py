"""Health: /metrics on every service, and /readyz following the database."""

from __future__ import annotations

import asyncio
import random
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from healthlink.synthetic import make_patient_bundle
from shared import topics
from shared.settings import SERVICE_PORTS, Settings
from tests.support.journey import Actors, eventually, uploader
from tests.support.kafka import publish_raw
from tests.support.platform import Platform, free_port
from tests.support.stack import Endpoints

pytestmark = pytest.mark.e2e


class TcpProxy:
    """A tiny TCP proxy in its own thread: stopping it is "the database went away"."""

    def __init__(self, target: tuple[str, int], port: int) -> None:
        self.target, self.port = target, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    found = []
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) + 1 :].rsplit("} ", 1)
            found.append((dict(re.findall(r'(\w+)="([^"]*)"', labels)), float(value)))
    return found


async def test_every_service_exposes_its_metrics(ops: Actors, ops_settings: Settings) -> None:
    rng = random.Random(5)
    source = await ops.hospital("10670", "Siriraj Hospital")
    cid, token = await ops.patient(rng)
    await ops.consent(cid, token, [source.code])
    async with uploader(ops_settings, source) as adapter:
        await adapter.send(make_patient_bundle(rng, cid=cid, hospital_code=source.code))
    await publish_raw(ops_settings, topics.ACCESS_EVENTS, b"\x00not an event", key=b"x")

    async def notify_set_it_aside() -> str | None:
        text = (await ops.http.get(ops.url("notify", "/metrics"))).text
        reasons = samples(text, "healthlink_dead_letters_total")
        hit = [v for labels, v in reasons if labels["reason"] == "malformed-event"]
        return text if hit and hit[0] >= 1 else None

    await eventually(notify_set_it_aside, timeout_s=60, what="dead letter counted by notify")

    async def ingest_stored() -> bool:
        text = (await ops.http.get(ops.url("ingest", "/metrics"))).text
        consumed = samples(text, "healthlink_messages_consumed_total")
        return any(lb["topic"] == topics.INGEST_UPLOADS and v >= 1 for lb, v in consumed)

    await eventually(ingest_stored, timeout_s=60, what="upload consumed by ingest")
    for service in SERVICE_PORTS:
        r = await ops.http.get(ops.url(service, "/metrics"))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        text = r.text
        http = samples(text, "healthlink_http_request_duration_seconds_count")
        assert any(lb["route"] == "/readyz" and lb["status"] == "200" for lb, _ in http), service
        if service == "portal":  # the web viewer consumes no topic: HTTP metrics only
            continue
        assigned = samples(text, "healthlink_consumer_assigned")
        assert assigned, f"{service} consumes nothing?"
        assert all(lb["topic"].startswith("healthlink.") for lb, _ in assigned)
        assert samples(text, "healthlink_consumer_lag"), service
        consumed = samples(text, "healthlink_messages_consumed_total")
        assert consumed and all(v >= 0 for _, v in consumed), service
        assert samples(text, "healthlink_message_processing_seconds_bucket"), service
    text = (await ops.http.get(ops.url("notify", "/metrics"))).text
    failed = samples(text, "healthlink_messages_failed_total")
    assert any(lb["kind"] == "rejected" and lb["topic"] == topics.ACCESS_EVENTS for lb, _ in failed)


async def test_readyz_follows_the_database(
    ops_settings: Settings, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> None:
    real = urlparse(endpoints.mongo_url)
    proxy = TcpProxy((real.hostname or "127.0.0.1", real.port or 27017), free_port())
    proxy.start()
    settings = ops_settings.model_copy(update={"mongo_url": f"mongodb://127.0.0.1:{proxy.port}/"})
    platform = Platform(settings, Path(tmp_path_factory.mktemp("ops-readyz-logs")))
    try:
        platform.start("audit")
        await asyncio.to_thread(platform.wait_ready, "audit")
        async with httpx.AsyncClient(timeout=30) as http:
            url = platform.url("audit") + "/readyz"

            async def status(code: int) -> dict[str, object] | None:
                r = await http.get(url)
                return r.json() if r.status_code == code else None

            proxy.stop()
            down = await eventually(lambda: status(503), timeout_s=60, what="not ready")
            assert down["checks"] == {"kafka": True, "database": False}
            assert (await http.get(platform.url("audit") + "/healthz")).status_code == 200
            proxy.start()
            up = await eventually(lambda: status(200), timeout_s=60, what="ready again")
            assert up["status"] == "ready"
    finally:
        platform.stop_all()
        proxy.close()
