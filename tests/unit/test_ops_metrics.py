"""Metrics and topic configuration, without I/O."""

from __future__ import annotations

import pytest

from shared import topics
from shared.consumer import Guard
from shared.deadletter import SourceMessage
from shared.errors import Rejected, Transient
from shared.kafka_topics import topic_specs
from shared.metrics import Metrics
from shared.settings import Settings

pytestmark = pytest.mark.unit


class FakeDeadLetters:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def set_aside(self, source: SourceMessage, reason: str, detail: str) -> None:
        self.metrics.count_dead_letter(source.topic, reason)


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def test_the_guard_counts_outcomes_times_handlers_and_counts_dead_letters() -> None:
    metrics = Metrics("ingest", "t1.")
    guard = Guard(FakeDeadLetters(metrics), 3, backoff_s=0, metrics=metrics)  # type: ignore[arg-type]
    source = SourceMessage("t1.healthlink.ingest.uploads", 0, 1, None, b"{}", {})

    async def ok(_: SourceMessage) -> None:
        return None

    async def refuse(_: SourceMessage) -> None:
        raise Rejected("no consent", code="no-consent")

    async def away(_: SourceMessage) -> None:
        raise Transient("database away")

    await guard.run(source, ok)
    await guard.run(source, refuse)
    with pytest.raises(Transient):
        await guard.run(source, away)
    topic = topics.INGEST_UPLOADS
    labels = {"service": "ingest", "topic": topic}
    assert value(metrics, "healthlink_messages_consumed_total", **labels) == 3
    assert value(metrics, "healthlink_messages_failed_total", kind="rejected", **labels) == 1
    assert value(metrics, "healthlink_messages_failed_total", kind="transient", **labels) == 1
    assert value(metrics, "healthlink_message_processing_seconds_count", **labels) == 3
    assert value(metrics, "healthlink_dead_letters_total", reason="no-consent", **labels) == 1
    assert b"healthlink_dead_letters_total" in metrics.exposition()


def test_two_services_in_one_process_keep_separate_registries() -> None:
    a, b = Metrics("audit"), Metrics("notify")
    a.count_dead_letter("x", "r")
    assert value(b, "healthlink_dead_letters_total", service="audit", topic="x", reason="r") == 0


def test_source_of_truth_topics_keep_their_events_forever() -> None:
    specs = {t.name: t for t in topic_specs(Settings(topic_prefix="p.", topic_replication=3))}
    for topic in (topics.CONSENT_EVENTS, topics.HOSPITAL_EVENTS, topics.INGEST_UPLOADS,
                  topics.ACCESS_EVENTS, topics.SECURITY_EVENTS, topics.DEAD_LETTERS):  # fmt: skip
        spec = specs["p." + topic]
        assert spec.topic_configs["retention.ms"] == "-1", topic
        assert spec.topic_configs["cleanup.policy"] == "delete", topic
        assert spec.num_partitions >= 6 and spec.replication_factor == 3
        assert spec.topic_configs["min.insync.replicas"] == "2"
    assert specs["p." + topics.DEAD_LETTER_RETRIES].topic_configs["cleanup.policy"] == "compact"
    uploads = specs["p." + topics.INGEST_UPLOADS].topic_configs
    assert int(uploads["max.message.bytes"]) > Settings().max_bundle_bytes
