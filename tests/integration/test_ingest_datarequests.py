"""The data-request door for hospitals that poll over HTTP, on the real broker: ingest
reads a hospital's own request topic with its own principal (a prefixed read ACL), a
page at a time, and the cursor goes on where the page stopped."""

from __future__ import annotations

import random

import pytest

from services.ingest.datarequests import KafkaRequestPages
from shared.cid import random_cid
from shared.deadletter_reader import LetterReader
from shared.errors import InvalidInput
from shared.kafka_admin import hospital_connection
from shared.kafka_topics import ensure_topics
from shared.settings import Settings
from shared.topics import data_requests_topic
from tests.integration.test_adapter_datarequests import request
from tests.support.kafka import publish_raw

pytestmark = pytest.mark.integration
HOSPITAL, OTHER, SILENT = "10670", "13781", "11535"
CIDS = (random_cid(random.Random(3)), random_cid(random.Random(4)))


async def test_pages_of_a_hospitals_own_requests(settings: Settings) -> None:
    await ensure_topics(settings)
    await hospital_connection(settings, HOSPITAL)
    await hospital_connection(settings, OTHER)
    await request(settings, CIDS[0], OTHER, "r-other")
    await request(settings, CIDS[0], HOSPITAL, "r-1")
    await publish_raw(settings, data_requests_topic(HOSPITAL), b"not a data request", key=b"10670")
    await request(settings, CIDS[1], HOSPITAL, "r-2")
    await request(settings, CIDS[1], HOSPITAL, "r-3")
    pages = KafkaRequestPages(LetterReader(settings, "ingest"))
    try:
        first = await pages.page(HOSPITAL, "", 2)
        assert [(r.id, r.patient) for r in first.requests] == [("r-1", CIDS[0]), ("r-2", CIDS[1])]
        assert first.more and first.next
        second = await pages.page(HOSPITAL, first.next, 2)
        assert [r.id for r in second.requests] == ["r-3"] and not second.more
        assert second.next
        again = await pages.page(HOSPITAL, second.next, 2)  # nothing new: the same place
        assert again.requests == [] and again.next == second.next
        assert [r.id for r in (await pages.page(HOSPITAL, first.next, 10)).requests] == ["r-3"]
        assert [r.id for r in (await pages.page(OTHER, "", 10)).requests] == ["r-other"]
        silent = await pages.page(SILENT, "", 10)  # never asked anything: no topic yet
        assert silent.requests == [] and silent.next is None
        with pytest.raises(InvalidInput):
            await pages.page(HOSPITAL, "not-a-cursor", 10)
        with pytest.raises(InvalidInput):
            await pages.page(HOSPITAL, "", 0)
    finally:
        await pages.close()
