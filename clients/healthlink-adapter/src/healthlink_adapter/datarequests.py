"""Data requests: Health Link asks a hospital to send a patient's records.

When a patient's consent newly covers a provider hospital, the consent service
publishes a ``data.requested`` CloudEvent (structured JSON, key: hospital code).
A hospital reads its own and answers each with an upload carrying
``hl-request-id``:

    async with DataRequestReader("broker:9092", "10670") as requests:
        async for request in requests:
            await uploader.send(records_of(request.patient), f"answer-{request.id}",
                                request_id=request.id)

Delivery is at least once: a request is committed only when the reader is asked
for the next one (or left without an error), so answer idempotently, e.g. with
an upload id derived from ``request.id``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from types import TracebackType

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from healthlink_adapter.contract import consumer_group, data_requests_topic
from healthlink_adapter.fields import Cid, HCode, UtcTime
from healthlink_adapter.kafka import KafkaConnection, as_connection

log = logging.getLogger(__name__)

# The event's name and CloudEvents type; the platform's event catalogue takes both
# and the payload model below from here (shared/events/requests.py).
DATA_REQUESTED = "data.requested"
DATA_REQUESTED_TYPE = "th.healthlink.data.requested.v1"


class DataRequested(BaseModel):
    """The payload (``data``) of a ``data.requested`` event, version 1: ``hospital``,
    please send ``patient``'s records; ``reason``: the event that caused it.

    Unknown fields are ignored, so the platform may add some without breaking readers.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    patient: Cid = Field(description="the patient's CID")
    hospital: HCode = Field(description="the hospital asked")
    reason: str = Field(description="what caused it, e.g. consent.granted")
    time: UtcTime = Field(description="when the platform asked")


class DataRequestEvent(BaseModel):
    """The CloudEvents envelope around a data request (the attributes a reader needs)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    type: str
    subject: str = ""
    correlationid: str | None = None
    data: DataRequested


class DataRequest(BaseModel):
    """One request addressed to a hospital: send ``patient``'s records, citing ``id``."""

    model_config = ConfigDict(frozen=True)

    id: str
    hospital: str
    patient: str
    reason: str
    time: datetime
    correlation_id: str | None = None


def parse_data_request(value: bytes) -> DataRequest | None:
    """A data request from a record's value; None for anything else or anything malformed."""
    try:
        event = DataRequestEvent.model_validate_json(value)
    except ValidationError:
        return None
    if event.type != DATA_REQUESTED_TYPE:
        return None
    data = event.data
    return DataRequest(
        id=event.id,
        hospital=data.hospital,
        patient=data.patient,
        reason=data.reason,
        time=data.time,
        correlation_id=event.correlationid,
    )


class DataRequestReader:
    """The data requests addressed to one hospital, in its own consumer group.

    It reads the hospital's own topic (``healthlink.consent.datarequests.<code>``, which
    Kafka's ACLs let only this hospital read). A restarted reader goes on where the last
    one stopped (group ``hospital-<code>``). Malformed records (and, defensively, any
    request addressed to another hospital) are skipped.
    """

    def __init__(
        self,
        kafka: KafkaConnection | str,
        hospital: str,
        topic_prefix: str = "",
        *,
        group: str | None = None,
    ) -> None:
        self.hospital = hospital
        self._consumer = AIOKafkaConsumer(
            data_requests_topic(hospital, topic_prefix),
            **as_connection(kafka).client_options(),
            group_id=group or consumer_group(hospital, topic_prefix),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self._read: dict[TopicPartition, int] = {}  # next offsets, not yet committed

    async def __aenter__(self) -> DataRequestReader:
        await self._consumer.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self._commit()
        finally:
            await self._consumer.stop()

    def __aiter__(self) -> DataRequestReader:
        return self

    async def __anext__(self) -> DataRequest:
        """The next request for this hospital (the one before is committed first)."""
        await self._commit()
        while True:
            record = await self._consumer.getone()
            self._read[TopicPartition(record.topic, record.partition)] = record.offset + 1
            request = parse_data_request(record.value or b"")
            if request is not None and request.hospital == self.hospital:
                return request
            if request is None:
                log.warning("skipped a record that is no data request: offset %d", record.offset)

    async def _commit(self) -> None:
        if self._read:
            await self._consumer.commit(self._read)
            self._read = {}
