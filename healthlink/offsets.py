"""A consumer group's offsets, read and set with Kafka's own APIs (used by replay).

Offsets can be set only while the group has no active member: a running consumer
would overwrite them with its next commit. ``ensure_idle`` refuses otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from shared.deadletter_pages import partitions_of
from shared.errors import Conflict
from shared.kafka_client import client_options
from shared.settings import Settings

IDLE_STATES = ("Empty", "Dead")


class ServiceRunning(Conflict):
    """The service still has consumers in its group: stop it (or scale it to 0) first."""

    code = "service-running"


@dataclass(frozen=True)
class StartAt:
    """Where a replay starts: the beginning, a time (ms since epoch) or an offset."""

    kind: Literal["beginning", "time", "offset"] = "beginning"
    value: int = 0


@dataclass(frozen=True)
class PartitionPlan:
    topic: str  # with the deployment's prefix, as on the broker
    partition: int
    committed: int | None
    start: int
    end: int

    @property
    def count(self) -> int:
        return max(0, self.end - self.start)

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


async def group_state(settings: Settings, group: str, principal: str) -> tuple[str, int]:
    """The group's state and its number of active members."""
    admin = AIOKafkaAdminClient(**client_options(settings, principal))
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
        _error, _group, state, _ptype, _proto, members, *_ = response.groups[0]
        return str(state), len(members)
    finally:
        await admin.close()


async def ensure_idle(settings: Settings, group: str, principal: str) -> None:
    state, members = await group_state(settings, group, principal)
    if members or state not in IDLE_STATES:
        raise ServiceRunning(
            f"consumer group {group} is {state} with {members} member(s): stop the service "
            "(or scale it to 0 replicas) before a replay"
        )


async def plan(
    settings: Settings, group: str, topic_names: list[str], start: StartAt, principal: str
) -> list[PartitionPlan]:
    """For every partition of ``topic_names``: committed offset, replay start and end."""
    options = client_options(settings, principal)
    consumer = AIOKafkaConsumer(**options, enable_auto_commit=False, group_id=None)
    admin = AIOKafkaAdminClient(**options)
    await consumer.start()
    await admin.start()
    try:
        tps = await partitions_of(settings, topic_names, principal)
        if not tps:
            return []
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        starts = dict(begins)
        if start.kind == "time":
            found = await consumer.offsets_for_times({tp: start.value for tp in tps})
            starts = {tp: ends[tp] if found[tp] is None else found[tp].offset for tp in tps}
        elif start.kind == "offset":
            starts = {tp: min(max(start.value, begins[tp]), ends[tp]) for tp in tps}
        plans = []
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else None
            plans.append(PartitionPlan(tp.topic, tp.partition, done, starts[tp], ends[tp]))
        return plans
    finally:
        await admin.close()
        await consumer.stop()


async def commit(
    settings: Settings, group: str, offsets: dict[TopicPartition, int], principal: str
) -> None:
    """Set the group's committed offsets (the group must be idle)."""
    if not offsets:
        return
    consumer = AIOKafkaConsumer(
        **client_options(settings, principal), enable_auto_commit=False, group_id=group
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(
            {tp: OffsetAndMetadata(o, "healthlink-replay") for tp, o in offsets.items()}
        )
    finally:
        await consumer.stop()
