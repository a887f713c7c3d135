"""Uploads over Kafka: signed FHIR Bundles on the upload topic, acknowledged by every replica.

    async with KafkaUploader("broker:9092", "10670", signer) as uploader:
        receipt = await uploader.send(bundle)

The producer waits for all in-sync replicas (``acks="all"``) with idempotence on,
so an acknowledged upload is never lost and a producer retry is never doubled;
sending the same upload id again is harmless (the platform stores by resource id).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from aiokafka.helpers import create_ssl_context

from healthlink_adapter.contract import (
    BATCH_BYTES,
    MAX_UPLOAD_BYTES,
    UPLOADS,
    named,
    record_limit,
)
from healthlink_adapter.signing import Signer
from healthlink_adapter.uploads import encode, new_upload_id, patient_cid, upload_headers

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@dataclass(frozen=True)
class KafkaConnection:
    """How to reach the platform's broker: bootstrap servers and, when set, credentials.

    A bare string wherever a connection is taken means PLAINTEXT to those servers (a
    broker without authentication). Hospitals connect with SASL_SSL and their own
    SCRAM-SHA-512 principal ``hospital-<code>``; ``ca_file`` is the platform's CA
    certificate.
    """

    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for an aiokafka client."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            if not (self.sasl_mechanism and self.username and self.password):
                raise ValueError("SASL needs a mechanism, a username and a password")
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password,
            )
        if self.security_protocol.endswith("SSL"):
            options["ssl_context"] = self.ssl_context()
        return options

    def ssl_context(self) -> ssl.SSLContext:
        context: ssl.SSLContext = create_ssl_context(cafile=self.ca_file)
        return context


def as_connection(kafka: KafkaConnection | str) -> KafkaConnection:
    return KafkaConnection(kafka) if isinstance(kafka, str) else kafka


class KafkaUploader:
    """Publishes signed uploads to the upload topic (acks=all, idempotent producer)."""

    def __init__(
        self,
        kafka: KafkaConnection | str,
        hospital: str,
        signer: Signer,
        topic_prefix: str = "",
        *,
        max_bytes: int = MAX_UPLOAD_BYTES,
    ) -> None:
        """``signer``: a ``Signer`` (``JwsSigner``: the hospital's private key)."""
        self.hospital = hospital
        self._signer = signer
        self._topic = named(UPLOADS, topic_prefix)
        self._producer = AIOKafkaProducer(
            **as_connection(kafka).client_options(),
            client_id=f"hospital-{hospital}",
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_request_size=record_limit(max_bytes),
            max_batch_size=BATCH_BYTES,
        )

    async def __aenter__(self) -> KafkaUploader:
        await self._producer.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._producer.stop()

    def headers(
        self, body: bytes, upload_id: str, *, sign: bool = True, request_id: str | None = None
    ) -> list[tuple[str, bytes]]:
        """The record headers of an upload (``sign=False``: unsigned, which is refused)."""
        pairs = upload_headers(
            self.hospital, upload_id, body, self._signer if sign else None, request_id=request_id
        )
        return [(k, v.encode()) for k, v in pairs.items()]

    async def send_bytes(
        self,
        body: bytes,
        cid: str,
        *,
        sign: bool = True,
        upload_id: str | None = None,
        request_id: str | None = None,
    ) -> str:
        """Publish ``body`` as it is, keyed by ``cid``; wait for the broker's ack; the receipt."""
        receipt = upload_id or new_upload_id()
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
        return await self.send_bytes(
            encode(bundle), patient_cid(bundle), upload_id=upload_id, request_id=request_id
        )
