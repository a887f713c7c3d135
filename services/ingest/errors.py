"""Ingest errors, on shared's error tree (``shared.errors``).

Each ``code`` is the dead-letter reason of an upload set aside on Kafka; over HTTP
(``POST /fhir``) the shared error map answers the class's status as an
OperationOutcome.

InvalidInput  BundleRejected (400; 413 when oversized), BadHeader
Unauthorized  Unsigned, BadSignature, NoSigningKey, UnknownKey (401)
Forbidden     NotAProvider (403)
NotFound      UnknownReceipt (404; ``GET /fhir/uploads/{receipt}``)
Rejected      NoConsent (Kafka only: the upload is held, then set aside)
"""

from __future__ import annotations

from typing import Literal

from shared.errors import Forbidden, InvalidInput, NotFound, Rejected, Unauthorized

RejectReason = Literal[
    "malformed-json", "not-a-bundle", "invalid-resource", "no-cid", "oversized", "empty-bundle"
]


class BundleRejected(InvalidInput):
    """The bundle can never be ingested; ``detail`` holds paths and types, never values."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail, code=reason)
        self.reason: RejectReason = reason
        if reason == "oversized":
            self.status = 413

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


class BadHeader(InvalidInput):
    """A header ingest reads holds what it may not (never its value in the message)."""

    code = "bad-header"


class Unsigned(Unauthorized):
    """No sending hospital or no signature."""

    code = "unsigned"


class BadSignature(Unauthorized):
    """The signature is not the body's under the sending hospital's key it names."""

    code = "bad-signature"


class NoSigningKey(Unauthorized):
    """The sending hospital has registered no public key to check its uploads with."""

    code = "no-signing-key"


class UnknownKey(Unauthorized):
    """The signature names a key (``kid``) the sending hospital does not have (never
    registered, or removed: a revoked key)."""

    code = "unknown-key"


class NotAProvider(Forbidden):
    """The sender is not (or not yet known as) a data-providing hospital."""

    code = "not-a-provider"

    def __init__(self, hospital: str) -> None:
        super().__init__(f"hospital {hospital} is not a data provider")


class NoConsent(Rejected):
    """No consent of the patient covers the sending hospital (the upload is held)."""

    code = "no-consent"

    def __init__(self) -> None:
        super().__init__("no consent covers this hospital for this patient")


class UnknownReceipt(NotFound):
    """No upload with this receipt from the asking hospital (another's is unknown too)."""

    code = "unknown-receipt"

    def __init__(self, receipt: str) -> None:
        super().__init__(f"no upload with receipt {receipt} from this hospital")
