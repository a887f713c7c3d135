"""One upload: its body bytes, its partition key (the patient's CID) and its headers.

Shared by the Kafka and the HTTP uploader, so both send exactly the same thing.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from healthlink_adapter.contract import (
    CID_SYSTEM,
    CONTENT_TYPE_HEADER,
    CORRELATION_HEADER,
    FHIR_JSON,
    HOSPITAL_HEADER,
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    UPLOAD_ID_HEADER,
)
from healthlink_adapter.signing import Signer


def patient_cid(bundle: dict[str, Any]) -> str:
    """The CID on the bundle's Patient (the partition key); empty when there is none."""
    for entry in bundle.get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "Patient":
            for ident in resource.get("identifier", []):
                if ident.get("system") == CID_SYSTEM:
                    return str(ident.get("value", ""))
    return ""


def encode(bundle: dict[str, Any]) -> bytes:
    """The bundle as UTF-8 JSON bytes: what is signed is exactly what is sent."""
    return json.dumps(bundle, ensure_ascii=False).encode()


def new_upload_id() -> str:
    return str(uuid.uuid4())


def upload_headers(
    hospital: str,
    upload_id: str,
    body: bytes,
    signer: Signer | None,
    *,
    request_id: str | None = None,
    correlation_id: str | None = None,
) -> dict[str, str]:
    """The headers of an upload; unsigned when ``signer`` is None (the platform refuses it)."""
    headers = {
        HOSPITAL_HEADER: hospital,
        UPLOAD_ID_HEADER: upload_id,
        CONTENT_TYPE_HEADER: FHIR_JSON,
        CORRELATION_HEADER: correlation_id or uuid.uuid4().hex,
    }
    if signer is not None:
        headers[SIGNATURE_HEADER] = signer.sign(body)
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    return headers
