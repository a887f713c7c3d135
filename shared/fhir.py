"""FHIR helpers shared at the edges: OperationOutcome and identifier systems."""

from __future__ import annotations

from typing import Any

from healthlink_adapter.contract import CID_SYSTEM, FHIR_JSON, HCODE_SYSTEM

__all__ = [
    "CID_SYSTEM",
    "FHIR_JSON",
    "HCODE_SYSTEM",
    "ISSUE_CODES",
    "LIMIT_SYSTEM",
    "LIMIT_UNTIL_URL",
    "operation_outcome",
]

# The limits a physician's read works under (services/query/limits.py): the codes of a
# searchset's OperationOutcome issues, and the extension saying until when one runs.
LIMIT_SYSTEM = "https://healthlink.example/fhir/CodeSystem/access-limit"
LIMIT_UNTIL_URL = "https://healthlink.example/fhir/StructureDefinition/access-limit-until"

# HTTP status -> FHIR issue-type code (http://hl7.org/fhir/R4/valueset-issue-type.html)
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    406: "not-supported",
    409: "conflict",
    413: "too-costly",
    422: "processing",
    429: "throttled",
    503: "transient",
}


def operation_outcome(status: int, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    """An OperationOutcome with one issue."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": severity,
                "code": ISSUE_CODES.get(status, "exception"),
                "diagnostics": diagnostics,
            }
        ],
    }
