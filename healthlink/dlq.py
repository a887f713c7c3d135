"""Reading and retrying the dead-letter topic (operators)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared import topics
from shared.deadletter import DeadLetter
from shared.settings import Settings


async def read_all(settings: Settings, timeout_s: float = 5.0) -> list[DeadLetter]:
    """Every dead letter currently on the topic, oldest first (no consumer group)."""
    topic = topics.named(topics.DEAD_LETTERS, settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=int(timeout_s * 1000))
            if not batch:
                break
            for records in batch.values():
                for r in records:
                    headers = {k: v.decode() for k, v in r.headers}
                    letters.append(DeadLetter.from_record(r.key, r.value or b"", headers))
    finally:
        await consumer.stop()
    return letters
