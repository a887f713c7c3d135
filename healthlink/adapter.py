"""A hospital adapter client: sign and publish FHIR Bundles; hear data requests.

async with HospitalAdapter(bootstrap, "10670", upload_key) as adapter:
    receipt = await adapter.send(bundle)

async for request in data_requests(bootstrap, "10670"):
    ...  # answer with adapter.send(bundle, request_id=request.id)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import ValidationError

from shared import tokens, topics
from shared.broker import BATCH_BYTES
from shared.cid import CID_SYSTEM, is_valid_cid
from shared.events import Envelope
from shared.logging import CORRELATION_HEADER

FHIR_JSON = "application/fhir+json"


def patient_cid(bundle: dict[str, Any]) -> str:
    """The CID on the bundle's Patient (the partition key); empty when there is none."""
    for entry in bundle.get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "Patient":
            for ident in resource.get("identifier", []):
                if ident.get("system") == CID_SYSTEM:
                    return str(ident.get("value", ""))
    return ""


MAX_UPLOAD_BYTES = 5_000_000  # the platform's default HEALTHLINK_MAX_BUNDLE_BYTES


class HospitalAdapter:
    """Publishes signed uploads to the ingest topic (acks=all, idempotent producer)."""

    def __init__(
        self,
        bootstrap: str,
        hospital: str,
        upload_key: str,
        topic_prefix: str = "",
        max_bytes: int = MAX_UPLOAD_BYTES,
    ) -> None:
        self.hospital = hospital
        self._key = upload_key
        self._topic = topics.named(topics.INGEST_UPLOADS, topic_prefix)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_request_size=max_bytes + 256 * 1024,  # one bundle and its headers
            max_batch_size=BATCH_BYTES,
        )

    async def __aenter__(self) -> HospitalAdapter:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object | TracebackType) -> None:
        await self._producer.stop()

    def headers(
        self, body: bytes, receipt: str, *, sign: bool = True, request_id: str | None = None
    ) -> list[tuple[str, bytes]]:
        pairs = [
            ("hl-hospital", self.hospital),
            ("hl-upload-id", receipt),
            ("content-type", FHIR_JSON),
            (CORRELATION_HEADER, uuid.uuid4().hex),
        ]
        if sign:
            pairs.append(("hl-signature", tokens.sign_body(self._key, body)))
        if request_id:
            pairs.append(("hl-request-id", request_id))
        return [(k, v.encode()) for k, v in pairs]

    async def send_bytes(
        self,
        body: bytes,
        cid: str,
        *,
        sign: bool = True,
        upload_id: str | None = None,
        request_id: str | None = None,
    ) -> str:
        """Publish ``body`` as it is and wait for the broker's ack; returns the receipt."""
        receipt = upload_id or str(uuid.uuid4())
        await self._producer.send_and_wait(
            self._topic,
            body,
            key=cid.encode() or None,
            headers=self.headers(body, receipt, sign=sign, request_id=request_id),
        )
        return receipt

    async def send(
        self,
        bundle: dict[str, Any],
        upload_id: str | None = None,
        *,
        request_id: str | None = None,
    ) -> str:
        """Sign and publish a bundle; returns its upload id (the receipt)."""
        body = json.dumps(bundle, ensure_ascii=False).encode()
        return await self.send_bytes(
            body, patient_cid(bundle), upload_id=upload_id, request_id=request_id
        )


@dataclass(frozen=True)
class DataRequest:
    """Health Link asks ``hospital`` to send ``patient``'s records."""

    id: str
    hospital: str
    patient: str
    name: str


def as_request(event: Envelope) -> DataRequest | None:
    """Read a data-request event; None when it names no hospital or no valid CID.

    The hospital is ``data.hospital`` (or ``data.source``, else the subject: the
    topic is keyed by hospital code); the patient is ``data.patient`` (or ``cid``).
    """
    data = event.data
    hospital = data.get("hospital") or data.get("source") or event.subject
    patient = data.get("patient") or data.get("cid")
    if not isinstance(hospital, str) or not isinstance(patient, str) or not is_valid_cid(patient):
        return None
    request_id = data.get("request_id") or event.id
    return DataRequest(id=str(request_id), hospital=hospital, patient=patient, name=event.name)


async def data_requests(
    bootstrap: str, hospital: str, topic_prefix: str = "", group: str | None = None
) -> AsyncIterator[DataRequest]:
    """Data requests addressed to ``hospital``, committed after the caller handled each one.

    Consumer group ``hospital-<code>`` by default, so a restarted adapter goes on
    where it stopped (at-least-once: answer idempotently, e.g. a fixed upload id).
    """
    consumer = AIOKafkaConsumer(
        topics.named(topics.DATA_REQUESTS, topic_prefix),
        bootstrap_servers=bootstrap,
        group_id=f"{topic_prefix}{group or 'hospital-' + hospital}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        async for record in consumer:
            try:
                event = Envelope.model_validate_json(record.value or b"")
            except ValidationError:
                event = None
            request = as_request(event) if event is not None else None
            if request is not None and request.hospital == hospital:
                yield request
            await consumer.commit()
    finally:
        await consumer.stop()
