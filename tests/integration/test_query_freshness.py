"""The read barrier on the real broker: a bulk load of one patient's records delays
reads of that patient only, not of the others on the same partition.

No projector runs here: the test commits the query group's offsets itself, as the
projector does after merging a batch, so "the charts are behind" is exact."""

from __future__ import annotations

import random

import pytest
from aiokafka import AIOKafkaConsumer

from services.query.errors import ChartsBehind
from services.query.freshness import KafkaFreshness
from shared.broker import Publisher, make_broker, subscriber_options
from shared.cid import random_cid
from shared.kafka_client import ADMIN, client_options
from shared.settings import Settings
from tests.integration.test_query_projector import publish_records

pytestmark = pytest.mark.integration


async def test_a_bulk_load_delays_only_its_own_patient_s_reads(settings: Settings) -> None:
    group = str(subscriber_options(settings, "query")["group_id"])
    barrier = KafkaFreshness(settings, "query", group, wait_s=1.0)
    rng = random.Random()
    await barrier.settle(random_cid(rng))  # connects; nothing stored, nothing to wait
    other = random_cid(rng)
    tp = barrier.partition_of(other)
    loaded = next(c for c in iter(lambda: random_cid(rng), "") if barrier.partition_of(c) == tp)
    charts = AIOKafkaConsumer(
        **client_options(settings, "query"), group_id=group, enable_auto_commit=False
    )
    broker = make_broker(settings, "freshness-test", principal=ADMIN)
    await broker.start()
    await charts.start()
    try:
        publisher = Publisher(broker, settings)
        await publish_records(publisher, other, 5)
        charts.assign([tp])
        merged = (await charts.end_offsets([tp]))[tp]
        await charts.commit({tp: merged})  # the charts hold the other patient's records
        for _ in range(5):  # then a load they have not merged
            await publish_records(publisher, loaded, 80)
        end = (await charts.end_offsets([tp]))[tp]
        assert end >= merged + 5

        await barrier.settle(other)  # answers at once: nothing of it is behind
        with pytest.raises(ChartsBehind):
            await barrier.settle(loaded)
        await charts.commit({tp: end})
        await barrier.settle(loaded)

        await publish_records(publisher, other, 3)  # now behind the merged load
        with pytest.raises(ChartsBehind):
            await barrier.settle(other)
        await charts.commit({tp: (await charts.end_offsets([tp]))[tp]})
        await barrier.settle(other)
    finally:
        await charts.stop()
        await broker.stop()
        await barrier.close()
