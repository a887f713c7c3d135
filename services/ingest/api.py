"""The HTTP gateway for hospitals that do not run Kafka: ``POST /fhir`` and its receipt
URL ``GET /fhir/uploads/{receipt}`` (routers only; the use cases are
``gateway.accept_upload`` and ``gateway.read_receipt``, the answer ``receipts.answer_of``).

Every refusal is a 4xx OperationOutcome (the shared error map), whatever bytes the
headers hold: a header that is not ASCII text is a wrong signature or a bad id,
never a 500.
"""

from __future__ import annotations

from typing import Any

from aiokafka.errors import MessageSizeTooLargeError
from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from healthlink_adapter.contract import (
    FHIR_JSON,
    HOSPITAL_HEADER,
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    UPLOAD_ID_HEADER,
)

from services.ingest.datarequests import DEFAULT_LIMIT, RequestPages, public
from services.ingest.errors import BundleRejected
from services.ingest.gateway import accept_upload, read_receipt, reader_of, sender_of
from services.ingest.handlers import Deps
from services.ingest.receipts import answer_of
from shared.auth import bearer_token
from shared.hospital_auth import require_system_token
from shared.hospital_letters import HospitalCode, require_hospital_key

router = APIRouter(tags=["uploads"])


async def read_limited(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``max_bytes``."""
    declared = request.headers.get("content-length", "")
    # ASCII digits only: "²".isdigit() is true, and int("²") fails.
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise BundleRejected("oversized", f"body exceeds {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BundleRejected("oversized", f"body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


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
    """Accept a signed FHIR Bundle and queue it for ingestion; returns its receipt id.
    Wants the hospital system's SMART Backend Services token (``system/Bundle.c``, the
    ``hospital`` claim = ``hl-hospital``) and the body's signature."""
    deps: Deps = request.app.state.deps
    headers = request.headers
    sender = sender_of(headers.get(HOSPITAL_HEADER), headers.get(SIGNATURE_HEADER))
    await require_system_token(request, sender.hospital, "Bundle", "c")
    body = await read_limited(request, deps.max_bytes)
    try:
        receipt = await accept_upload(
            deps,
            sender,
            body,
            upload_id=headers.get(UPLOAD_ID_HEADER),
            request_id=headers.get(REQUEST_ID_HEADER),
        )
    except MessageSizeTooLargeError:
        raise BundleRejected("oversized", "body exceeds the broker's message size") from None
    return accepted(receipt)


@router.get("/fhir/uploads/{receipt}", response_model=None)
async def read_upload(receipt: str, request: Request) -> JSONResponse:
    """What became of an upload (FHIR asynchronous pattern): 202 while queued, then a Task:
    completed (resources per category) or rejected (the reason). Only for the hospital
    that sent it: ``hl-hospital`` and ``hl-signature`` (the receipt id signed with one of
    the hospital's keys, as an upload body) or its admin key as the bearer token."""
    deps: Deps = request.app.state.deps
    headers = request.headers
    admin_key = bearer_token(headers["authorization"]) if "authorization" in headers else None
    reader = reader_of(headers.get(HOSPITAL_HEADER), headers.get(SIGNATURE_HEADER), admin_key)
    status_code, body, extra = answer_of(await read_receipt(deps, reader, receipt))
    return JSONResponse(body, status_code=status_code, media_type=FHIR_JSON, headers=extra)


@router.get(
    "/hospitals/{code}/data-requests",
    tags=["hospital systems"],
    dependencies=[Depends(require_hospital_key)],
)
async def read_data_requests(
    code: HospitalCode, request: Request, cursor: str = "", limit: int = DEFAULT_LIMIT
) -> dict[str, Any]:
    """This hospital's data requests after ``cursor``, oldest first (the hospital's admin
    key): each asks for a patient's records; answer with an upload carrying
    ``hl-request-id``, then ask again with ``next``. At least once: a request may come
    again if the hospital asks with an older cursor."""
    pages: RequestPages = request.app.state.request_pages
    return public(await pages.page(code, cursor, limit), code)
