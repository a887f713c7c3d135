"""The HTTP gateway for hospitals that do not run Kafka: ``POST /fhir``."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from services.ingest.bundle import parse_bundle
from services.ingest.handlers import HOSPITAL_HEADER, SIGNATURE_HEADER, UPLOAD_ID_HEADER, Deps
from shared import tokens, topics
from shared.errors import Unauthorized
from shared.fhir import FHIR_JSON
from shared.logging import CORRELATION_HEADER, get_correlation_id

router = APIRouter(tags=["uploads"])


@router.post("/fhir", status_code=status.HTTP_202_ACCEPTED, response_model=None)
async def create_upload(request: Request) -> JSONResponse:
    """Accept a signed FHIR Bundle and queue it for ingestion; returns its receipt id."""
    deps: Deps = request.app.state.deps
    body = await request.body()
    hospital = request.headers.get(HOSPITAL_HEADER, "")
    signature = request.headers.get(SIGNATURE_HEADER)
    key = tokens.derive(deps.secret, "upload", hospital)
    if not hospital or not tokens.check_body(key, body, signature):
        raise Unauthorized("hl-hospital and a valid hl-signature header are required")
    parsed = await asyncio.to_thread(parse_bundle, body, max_bytes=deps.max_bytes)
    receipt = str(uuid.uuid4())
    headers = {
        HOSPITAL_HEADER: hospital,
        SIGNATURE_HEADER: signature or "",
        UPLOAD_ID_HEADER: receipt,
        "content-type": FHIR_JSON,
        CORRELATION_HEADER: get_correlation_id() or receipt,
    }
    await deps.publisher.publish_raw(
        topics.INGEST_UPLOADS, body, key=parsed.patient_cid.encode(), headers=headers
    )
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
