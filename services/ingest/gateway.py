"""The HTTP gateway's use cases: check what is cheap, then queue the upload; read a receipt.

For hospitals that do not run Kafka (``api.py``, ``POST /fhir``). What it can check
before anything is queued — signature, provider status, a valid Bundle with a CID,
the ids in its headers — is refused at once with a clear 4xx; the consumer checks
everything again (the topic is the contract, and Kafka uploads never pass here).

A receipt (``receipts.py``) is read by the hospital that sent the upload only:
``hl-hospital`` and either ``hl-signature``, the receipt id signed like an upload body
with one of its keys (what the adapter does), or its admin key as the bearer token
(hospital staff; ``shared.hospital_auth``). A receipt another hospital sent, or none, is
``NotFound`` alike, so receipts do not leak.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from healthlink_adapter.contract import (
    CONTENT_TYPE_HEADER,
    CORRELATION_HEADER,
    FHIR_JSON,
    HOSPITAL_HEADER,
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    UPLOAD_ID_HEADER,
)

from services.ingest.bundle import parse_bundle, valid_id
from services.ingest.domain import (
    check_signature,
    receipt_of,
    request_id_of,
    require_provider,
    sender_code,
)
from services.ingest.errors import NotAProvider, UnknownReceipt, Unsigned
from services.ingest.handlers import Deps
from services.ingest.receipts import QUEUED, Receipt
from shared import topics
from shared.errors import InvalidInput, Unauthorized
from shared.hospital_auth import REFUSED, admin_key_matches
from shared.logging import get_correlation_id


@dataclass(frozen=True)
class Sender:
    """Who says they send an upload: the ``hl-hospital`` and ``hl-signature`` headers."""

    hospital: str
    signature: str


def sender_of(hospital: str | None, signature: str | None) -> Sender:
    """Both headers, or ``Unsigned`` (checked before the body is read)."""
    if not hospital or not signature:
        raise Unsigned(f"{HOSPITAL_HEADER} and {SIGNATURE_HEADER} headers are required")
    return Sender(sender_code(hospital), signature)


async def accept_upload(
    deps: Deps, sender: Sender, body: bytes, *, upload_id: str | None, request_id: str | None
) -> str:
    """Check a signed upload and queue it on the upload topic; its receipt (upload id).

    Refusals, in this order: ``NotAProvider`` (a hospital not known), ``NoSigningKey``,
    ``UnknownKey``, ``BadSignature`` (not its keys' signature of the body),
    ``NotAProvider``, ``BundleRejected``, ``BadHeader`` (the upload or request id).
    """
    known = await deps.view.hospital(sender.hospital)
    if known is None:
        raise NotAProvider(sender.hospital)
    check_signature(known, body, sender.signature)
    require_provider(sender.hospital, known)
    parsed = await asyncio.to_thread(parse_bundle, body, max_bytes=deps.max_bytes)
    receipt = receipt_of(upload_id)
    request = request_id_of(request_id)
    headers = {
        HOSPITAL_HEADER: sender.hospital,
        SIGNATURE_HEADER: sender.signature,
        UPLOAD_ID_HEADER: receipt,
        CONTENT_TYPE_HEADER: FHIR_JSON,
        CORRELATION_HEADER: get_correlation_id() or receipt,
    }
    if request is not None:
        headers[REQUEST_ID_HEADER] = request
    await deps.publisher.publish_raw(
        topics.INGEST_UPLOADS, body, key=parsed.patient_cid.encode(), headers=headers
    )
    # After the publish: nothing queued, no receipt. Written only where none is kept yet.
    await deps.receipts.record([Receipt(sender.hospital, receipt, QUEUED, deps.clock())])
    return receipt


@dataclass(frozen=True)
class Reader:
    """Who asks for a receipt: ``hl-hospital`` and its signature of the receipt id or its
    admin key (the bearer token)."""

    hospital: str
    signature: str | None = None
    admin_key: str | None = None


def reader_of(hospital: str | None, signature: str | None, admin_key: str | None) -> Reader:
    """The hospital and one of its credentials, or ``Unsigned``. A signature wins: a
    hospital system sends its SMART token as the bearer beside it (as on uploads), and
    that token is not an admin key."""
    if not hospital or not (signature or admin_key):
        raise Unsigned(
            f"{HOSPITAL_HEADER} and {SIGNATURE_HEADER} (the receipt id signed) or the "
            "hospital's admin key (bearer) are required"
        )
    return Reader(sender_code(hospital), signature, None if signature else admin_key)


async def read_receipt(deps: Deps, reader: Reader, receipt: str) -> Receipt:
    """The receipt, for the hospital that sent the upload: ``InvalidInput`` (not an
    upload id), ``Unauthorized`` (not this hospital's signature of it, nor its admin
    key), ``UnknownReceipt``."""
    if not valid_id(receipt):
        raise InvalidInput("a receipt is 1-64 of [A-Za-z0-9.-]", code="bad-receipt")
    known = await deps.view.hospital(reader.hospital)
    if reader.admin_key is not None:
        if not admin_key_matches(known, reader.admin_key):
            raise Unauthorized(REFUSED)
    elif known is None:
        raise NotAProvider(reader.hospital)
    else:
        check_signature(known, receipt.encode(), reader.signature)
    found = await deps.receipts.find(reader.hospital, receipt)
    if found is None:
        raise UnknownReceipt(receipt)
    return found
