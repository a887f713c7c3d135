"""A hospital's data-request reader on the real broker: its own requests, at least once."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest
from healthlink_adapter import DataRequest, DataRequestReader

from services.consent.consents import data_request
from shared.cid import random_cid
from shared.kafka_admin import hospital_connection
from shared.kafka_topics import ensure_topics
from shared.settings import Settings
from shared.topics import data_requests_topic
from tests.support.kafka import publish_raw

pytestmark = pytest.mark.integration
HOSPITAL, OTHER = "10670", "13781"
CIDS = (random_cid(random.Random(1)), random_cid(random.Random(2)))


async def request(settings: Settings, cid: str, hospital: str, request_id: str) -> None:
    event = data_request(cid, hospital, "consent.granted", request_id, datetime.now(UTC))
    await publish_raw(settings, data_requests_topic(hospital), event.model_dump_json().encode(),
                      key=hospital.encode())  # fmt: skip


async def next_of(reader: DataRequestReader) -> DataRequest:
    return await asyncio.wait_for(anext(reader), timeout=30)


async def test_only_its_own_requests_and_a_request_comes_again_until_handled(
    settings: Settings,
) -> None:
    await ensure_topics(settings)
    bootstrap, prefix = await hospital_connection(settings, HOSPITAL), settings.topic_prefix
    await hospital_connection(settings, OTHER)  # its topic exists; this reader never sees it
    await request(settings, CIDS[0], OTHER, "r-other")
    await request(settings, CIDS[0], HOSPITAL, "r-1")
    await request(settings, CIDS[1], HOSPITAL, "r-2")
    await publish_raw(settings, data_requests_topic(HOSPITAL), b"not a data request", key=b"10670")
    await request(settings, CIDS[1], HOSPITAL, "r-3")

    async with DataRequestReader(bootstrap, HOSPITAL, prefix) as reader:
        first = await next_of(reader)
        assert (first.id, first.hospital, first.patient) == ("r-1", HOSPITAL, CIDS[0])
    # Left without an error after r-1: r-1 was handled, so it is committed.

    with pytest.raises(RuntimeError):
        async with DataRequestReader(bootstrap, HOSPITAL, prefix) as reader:
            assert (await next_of(reader)).id == "r-2"
            raise RuntimeError("the hospital's system failed while answering")
    # Not handled: r-2 is not committed, and comes again.

    async with DataRequestReader(bootstrap, HOSPITAL, prefix) as reader:
        assert (await next_of(reader)).id == "r-2"
        assert (await next_of(reader)).id == "r-3"  # the garbage in between is skipped
