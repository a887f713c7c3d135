"""Upload receipts: what became of an upload, and how its receipt URL answers (pure).

A receipt is the upload id (``hl-upload-id``, or the one the gateway chose), kept per
sending hospital: ``{hospital}/{upload id}``, so the same id from another hospital is
another receipt, and a hospital asking for a receipt it did not send finds nothing.

=============  ===============================================  ========================
state          when                                             what it holds
=============  ===============================================  ========================
``queued``     ``POST /fhir`` put it on the upload topic        when it was accepted
``stored``     every resource written (or already there)        resources, per category,
                                                                skipped types
``set-aside``  refused: on the dead-letter topic                the dead-letter reason
                                                                and its detail
=============  ===============================================  ========================

``stored`` is final: a later refusal of the same upload id (a replayed dead letter
after a revocation, say) does not hide that its records were stored; an upload set
aside for ``no-consent`` and released when the patient consents becomes ``stored``.
``queued`` is written only where nothing is known yet.

The receipt URL follows FHIR's asynchronous request pattern: ``202`` with
``Retry-After`` and ``X-Progress`` while the upload waits, then ``200`` with a FHIR
``Task``: ``completed`` (its ``output``: resources stored, per category) or
``rejected`` (its ``statusReason``: the reason). No patient data: ids and counts only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.database import Document
from shared.fhir import HCODE_SYSTEM

QUEUED, STORED, SET_ASIDE = "queued", "stored", "set-aside"
STATES = (QUEUED, STORED, SET_ASIDE)
RETRY_AFTER_S = 1
# Code systems of this platform (the Task's business status, reasons, categories).
STATE_SYSTEM = "https://healthlink.example/fhir/CodeSystem/upload-state"
REASON_SYSTEM = "https://healthlink.example/fhir/CodeSystem/dead-letter-reason"
CATEGORY_SYSTEM = "https://healthlink.example/fhir/CodeSystem/data-category"
RECEIPT_SYSTEM = "https://healthlink.example/fhir/NamingSystem/upload-receipt"
TASK_STATUS = {QUEUED: "received", STORED: "completed", SET_ASIDE: "rejected"}


@dataclass(frozen=True)
class Receipt:
    """What ingest knows of one upload."""

    hospital: str
    upload_id: str
    state: str
    at: datetime
    resources: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    reason: str = ""
    detail: str = ""

    @property
    def key(self) -> str:
        return receipt_key(self.hospital, self.upload_id)


def receipt_key(hospital: str, upload_id: str) -> str:
    return f"{hospital}/{upload_id}"


def replaces(stored_state: str | None, new_state: str) -> bool:
    """Whether a receipt in ``new_state`` replaces one in ``stored_state`` (None: none yet)."""
    if stored_state is None:
        return True
    if new_state == STORED:
        return True
    return new_state == SET_ASIDE and stored_state != STORED


def merged(receipts: list[Receipt]) -> list[Receipt]:
    """Each receipt id once: what ``replaces`` keeps when they come in this order."""
    kept: dict[str, Receipt] = {}
    for receipt in receipts:
        old = kept.get(receipt.key)
        if replaces(None if old is None else old.state, receipt.state):
            kept[receipt.key] = receipt
    return list(kept.values())


def to_doc(receipt: Receipt) -> Document:
    return {
        "_id": receipt.key,
        "state": receipt.state,
        "updated_at": receipt.at,  # when ingest recorded this state (a write time)
        "resources": receipt.resources,
        "counts": dict(receipt.counts),
        "skipped": dict(receipt.skipped),
        "reason": receipt.reason,
        "detail": receipt.detail,
    }


def from_doc(doc: Document) -> Receipt:
    hospital, _, upload_id = str(doc["_id"]).partition("/")
    return Receipt(
        hospital=hospital,
        upload_id=upload_id,
        state=str(doc["state"]),
        at=doc["updated_at"],
        resources=int(doc.get("resources", 0)),
        counts={str(k): int(v) for k, v in (doc.get("counts") or {}).items()},
        skipped={str(k): int(v) for k, v in (doc.get("skipped") or {}).items()},
        reason=str(doc.get("reason", "")),
        detail=str(doc.get("detail", "")),
    )


def _instant(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _count(system: str, code: str, value: int) -> dict[str, Any]:
    return {"type": {"coding": [{"system": system, "code": code}]}, "valueInteger": value}


def task_of(receipt: Receipt) -> dict[str, Any]:
    """The receipt as a FHIR R4 ``Task`` (ids and counts only)."""
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": receipt.upload_id,
        "identifier": [{"system": RECEIPT_SYSTEM, "value": receipt.upload_id}],
        "status": TASK_STATUS[receipt.state],
        "businessStatus": {
            "coding": [{"system": STATE_SYSTEM, "code": receipt.state}],
            "text": receipt.state,
        },
        "intent": "order",
        "description": "ingest an uploaded FHIR Bundle",
        "requester": {"identifier": {"system": HCODE_SYSTEM, "value": receipt.hospital}},
        "lastModified": _instant(receipt.at),
    }
    if receipt.state == SET_ASIDE:
        task["statusReason"] = {
            "coding": [{"system": REASON_SYSTEM, "code": receipt.reason}],
            "text": f"{receipt.reason}: {receipt.detail}" if receipt.detail else receipt.reason,
        }
    if receipt.state == STORED:
        outputs = [_count(STATE_SYSTEM, "resources", receipt.resources)]
        outputs += [_count(CATEGORY_SYSTEM, c, n) for c, n in sorted(receipt.counts.items())]
        outputs += [
            {"type": {"text": f"skipped {kind}"}, "valueInteger": n}
            for kind, n in sorted(receipt.skipped.items())
        ]
        task["output"] = outputs
    return task


def answer_of(receipt: Receipt) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body and headers of the receipt URL (FHIR's asynchronous pattern)."""
    if receipt.state == QUEUED:
        headers = {"Retry-After": str(RETRY_AFTER_S), "X-Progress": "queued"}
        return 202, task_of(receipt), headers
    return 200, task_of(receipt), {}
