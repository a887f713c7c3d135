"""A hospital adapter client: sign a FHIR Bundle and publish it to the upload topic.

async with HospitalAdapter(bootstrap, "10670", upload_key) as adapter:
    receipt = await adapter.send(bundle)
"""

from __future__ import annotations

import json
import uuid
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer

from shared import tokens, topics
from shared.cid import CID_SYSTEM
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


class HospitalAdapter:
    def __init__(
        self, bootstrap: str, hospital: str, upload_key: str, topic_prefix: str = ""
    ) -> None:
        self.hospital = hospital
        self._key = upload_key
        self._topic = topics.named(topics.INGEST_UPLOADS, topic_prefix)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
        )

    async def __aenter__(self) -> HospitalAdapter:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object | TracebackType) -> None:
        await self._producer.stop()

    async def send_bytes(
        self, body: bytes, cid: str, *, sign: bool = True, upload_id: str | None = None
    ) -> str:
        receipt = upload_id or str(uuid.uuid4())
        headers = [
            ("hl-hospital", self.hospital),
            ("hl-upload-id", receipt),
            ("content-type", FHIR_JSON),
            (CORRELATION_HEADER, uuid.uuid4().hex),
        ]
        if sign:
            headers.append(("hl-signature", tokens.sign_body(self._key, body)))
        await self._producer.send_and_wait(
            self._topic,
            body,
            key=cid.encode() or None,
            headers=[(k, v.encode()) for k, v in headers],
        )
        return receipt

    async def send(self, bundle: dict[str, Any], upload_id: str | None = None) -> str:
        """Sign and publish a bundle; returns its upload id (the receipt)."""
        body = json.dumps(bundle, ensure_ascii=False).encode()
        return await self.send_bytes(body, patient_cid(bundle), upload_id=upload_id)
