"""Query's chart projector process: restarted when it dies, seen in /readyz and
/metrics, stopped with the service; the charts keep up through all of it."""

from __future__ import annotations

import json
import os
import random
import signal
import uuid
from datetime import UTC, datetime

import pytest

from healthlink.synthetic import make_patient_bundle
from services.ingest.bundle import parse_bundle
from services.ingest.documents import stored_events, to_documents
from services.query.handlers import Deps
from services.query.projector import Projector
from shared import topics
from shared.broker import Publisher, make_broker
from shared.cid import random_cid
from shared.kafka_client import ADMIN
from shared.settings import Settings
from tests.support.inprocess import running
from tests.support.journey import eventually

pytestmark = pytest.mark.integration

SOURCE = "10670"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def publish_records(publisher: Publisher, cid: str, n: int) -> int:
    rng = random.Random(uuid.uuid4().int)
    bundle = make_patient_bundle(rng, cid=cid, hospital_code=SOURCE, n_resources=n)
    parsed = parse_bundle(json.dumps(bundle).encode())
    docs = to_documents(parsed, SOURCE, uuid.uuid4().hex, datetime.now(UTC)).docs
    for event in stored_events(cid, SOURCE, uuid.uuid4().hex, docs):
        await publisher.publish(topics.INGEST_STORED, event)
    return len(docs)


async def test_a_killed_projector_is_restarted_and_charts_keep_up(settings: Settings) -> None:
    broker = make_broker(settings, "projector-test", principal=ADMIN)
    await broker.start()
    try:
        async with running("query", settings) as (app, client):
            projector: Projector = app.state.projector
            deps: Deps = app.state.deps

            async def ready() -> bool:
                r = await client.get("/readyz")
                return r.status_code == 200 and r.json()["checks"]["charts-projector"] is True

            await eventually(ready, timeout_s=60, what="the projector consuming")
            first = projector.pid
            assert first is not None and first != os.getpid()
            cid = random_cid(random.Random())
            stored = await publish_records(Publisher(broker, settings), cid, 12)

            async def charted() -> bool:
                index = await deps.charts.index(cid)
                return index.get(SOURCE, {}).get("n") == stored

            await eventually(charted, timeout_s=60, what="records merged by the projector")

            os.kill(first, signal.SIGKILL)

            async def replaced() -> bool:
                return projector.pid != first and await ready()

            await eventually(replaced, timeout_s=60, what="a new projector")
            stored += await publish_records(Publisher(broker, settings), cid, 7)
            await eventually(charted, timeout_s=60, what="records merged by the new projector")

            async def reported() -> bool:
                text = (await client.get("/metrics")).text
                owned = [
                    line
                    for line in text.splitlines()
                    if line.startswith("healthlink_consumer_assigned{")
                    and f'topic="{topics.INGEST_STORED}"' in line
                ]
                return len(owned) == settings.topic_partitions

            await eventually(reported, timeout_s=30, what="the projector's partitions in /metrics")
            second = projector.pid
        # The service's stop sends SIGTERM; the projector ends its batch and exits (a
        # bounded shutdown may return before it has): gone within a few seconds.
        assert second is not None

        async def gone() -> bool:
            return not alive(second)

        await eventually(gone, timeout_s=15, what="the projector gone with its service")
    finally:
        await broker.stop()
