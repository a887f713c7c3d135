"""The HTTP gateway for hospitals that do not run Kafka: ``POST /fhir``.

The gateway checks what it cheaply can before anything is queued — size,
signature, provider status, a valid Bundle with a CID — so a hospital gets a
clear 4xx at once; the consumer checks everything again (the topic is the
contract, and Kafka uploads never pass here).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError
from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from healthlink_adapter.contract import (
    CONTENT_TYPE_HEADER,
    CORRELATION_HEADER,
    FHIR_JSON,
    HOSPITAL_HEADER,
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    UPLOAD_ID_HEADER,
)
from healthlink_adapter.signing import check_body

from services.ingest.bundle import BundleRejected, parse_bundle, valid_id
from services.ingest.handlers import Deps
from shared import tokens, topics
from shared.errors import Forbidden, InvalidInput, Unauthorized
from shared.logging import get_correlation_id

router = APIRouter(tags=["uploads"])


async def read_limited(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``max_bytes``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BundleRejected("oversized", f"body exceeds {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BundleRejected("oversized", f"body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def receipt_of(request: Request) -> str:
    """The hospital's own upload id (so a retried POST is the same upload), else a new one."""
    given = request.headers.get(UPLOAD_ID_HEADER)
    if given is None:
        return str(uuid.uuid4())
    if not valid_id(given):
        raise InvalidInput(f"{UPLOAD_ID_HEADER} must be 1-64 of [A-Za-z0-9.-]")
    return given


def accepted(receipt: str) -> JSONResponse:
    outcome: dict[str, Any] = {
        "resourceType": "OperationOutcome",
        "id": receipt,
        "issue": [
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": f"bundle accepted for ingestion; receipt {receipt}",
            }
        ],
    }
    return JSONResponse(
        outcome,
        status_code=202,
        media_type=FHIR_JSON,
        headers={"Location": f"/fhir/uploads/{receipt}"},
    )


@router.post("/fhir", status_code=status.HTTP_202_ACCEPTED, response_model=None)
async def create_upload(request: Request) -> JSONResponse:
    """Accept a signed FHIR Bundle and queue it for ingestion; returns its receipt id."""
    deps: Deps = request.app.state.deps
    hospital = request.headers.get(HOSPITAL_HEADER, "")
    signature = request.headers.get(SIGNATURE_HEADER)
    if not hospital or not signature:
        raise Unauthorized(f"{HOSPITAL_HEADER} and {SIGNATURE_HEADER} headers are required")
    body = await read_limited(request, deps.max_bytes)
    if not check_body(tokens.derive(deps.secret, "upload", hospital), body, signature):
        raise Unauthorized("hl-signature does not match the body")
    view = await deps.view.hospital(hospital)
    if view is None or not view.is_provider:
        raise Forbidden(f"hospital {hospital} is not a data provider")
    parsed = await asyncio.to_thread(parse_bundle, body, max_bytes=deps.max_bytes)
    receipt = receipt_of(request)
    headers = {
        HOSPITAL_HEADER: hospital,
        SIGNATURE_HEADER: signature,
        UPLOAD_ID_HEADER: receipt,
        CONTENT_TYPE_HEADER: FHIR_JSON,
        CORRELATION_HEADER: get_correlation_id() or receipt,
    }
    if request_id := request.headers.get(REQUEST_ID_HEADER):
        headers[REQUEST_ID_HEADER] = request_id[:64]
    try:
        await deps.publisher.publish_raw(
            topics.INGEST_UPLOADS, body, key=parsed.patient_cid.encode(), headers=headers
        )
    except MessageSizeTooLargeError:
        raise BundleRejected("oversized", "body exceeds the broker's message size") from None
    return accepted(receipt)
