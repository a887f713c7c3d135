"""Ingest rules: pure functions and value objects, no I/O.

Who signed an upload, what its ids may hold, which senders and consents let it
in, and which version of a resource a batch writes. ``Upload`` is one upload on
its way through a batch (``handlers.ingest``).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from healthlink_adapter.contract import (
    HOSPITAL_HEADER,
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    UPLOAD_ID_HEADER,
    is_hospital_code,
)
from healthlink_adapter.signing import SignatureRefused, verify_detached

from services.ingest.bundle import LoadedBundle, ParsedBundle, finish, load_bundle, valid_id
from services.ingest.errors import (
    BadHeader,
    BadSignature,
    BundleRejected,
    NoSigningKey,
    NotAProvider,
    UnknownKey,
    Unsigned,
)
from shared.coverage import HospitalState
from shared.database import Document
from shared.deadletter import SourceMessage
from shared.projections import Consent

Senders = dict[str, HospitalState | None]
Consents = dict[str, Consent | None]
REQUEST_ID_CHARS = 64  # what is kept of an hl-request-id


@dataclass
class Upload:
    """One upload on its way through a batch."""

    index: int
    source: SourceMessage
    hospital: str
    upload_id: str
    loaded: LoadedBundle | None = None
    problem: BaseException | None = None  # reported after the provider check
    parsed: ParsedBundle | None = None
    held: bool = False
    verified: bool = False  # its signature checked against its hospital's public keys


REFUSALS = {"no-signing-key": NoSigningKey, "unknown-key": UnknownKey}


def check_signature(sender: HospitalState, body: bytes, signature: str | None) -> str:
    """The ``kid`` of ``sender``'s key that signed ``body``, else ``NoSigningKey``,
    ``UnknownKey`` or ``BadSignature`` with the reason (anything that is not ASCII text
    is a bad signature)."""
    keys = [key.jwk() for key in sender.signing_keys]
    try:
        return verify_detached(keys, body, signature)
    except SignatureRefused as exc:
        refusal = REFUSALS.get(exc.reason, BadSignature)
        raise refusal(f"hospital {sender.code}: {exc}") from None


def upload_id_of(source: SourceMessage) -> str:
    return source.headers.get(UPLOAD_ID_HEADER) or hashlib.sha256(source.value).hexdigest()[:32]


def sender_code(hospital: str) -> str:
    """A sender's code; no hospital's key signs for anything else (``BadSignature``)."""
    if not is_hospital_code(hospital):
        raise BadSignature(f"{HOSPITAL_HEADER} is not a 5-digit hospital code")
    return hospital


def claimed_by(source: SourceMessage) -> str:
    """The hospital an upload says it is from (both headers there), or ``Unsigned``."""
    hospital = source.headers.get(HOSPITAL_HEADER)
    if not hospital:
        raise Unsigned("upload has no hospital header")
    if not source.headers.get(SIGNATURE_HEADER):
        raise Unsigned("upload has no signature")
    return sender_code(hospital)


def verify(upload: Upload, sender: HospitalState) -> None:
    """Check the upload's signature against its (now known) hospital's public keys."""
    check_signature(sender, upload.source.value, upload.source.headers.get(SIGNATURE_HEADER))
    upload.verified = True


def arrive(max_bytes: int, index: int, source: SourceMessage, senders: Senders) -> Upload:
    """Signature first (refuses forgeries before any parsing), then the cheap load. An
    upload from a hospital not known yet is checked when its hospital event comes (it is
    held until then, ``handlers.hold``)."""
    upload = Upload(index, source, claimed_by(source), upload_id_of(source))
    sender = senders.get(upload.hospital)
    if sender is not None:
        verify(upload, sender)
    try:
        upload.loaded = load_bundle(source.value, max_bytes=max_bytes)
    except BundleRejected as exc:
        upload.problem = exc
    return upload


def require_provider(hospital: str, view: HospitalState | None) -> None:
    if view is None or not view.is_provider:
        raise NotAProvider(hospital)


def may_send(consent: Consent | None, hospital: str, now: datetime) -> bool:
    """The ingest gate (``ConsentState.may_send``): nothing without a consent."""
    return consent is not None and consent.state.may_send(hospital, now)


def vet(upload: Upload, senders: Senders) -> ParsedBundle:
    """Provider check (when the sender is known), then the bundle's problems, then CID rules."""
    view = senders[upload.hospital]
    if view is not None:  # unknown yet: its hospital event may still be on its way (held)
        require_provider(upload.hospital, view)
    if upload.problem is not None:
        raise upload.problem
    assert upload.loaded is not None
    return finish(upload.loaded)


def newest_per_id(docs: list[Document]) -> list[Document]:
    """Each id once, its highest rank kept (the first of equals): one batch, one write each."""
    newest: dict[str, Document] = {}
    for doc in docs:
        seen = newest.get(doc["_id"])
        if seen is None or seen["rank"] < doc["rank"]:
            newest[doc["_id"]] = doc
    return list(newest.values())


def receipt_of(given: str | None) -> str:
    """The hospital's own upload id (so a retried POST is the same upload), else a new one."""
    if given is None:
        return str(uuid.uuid4())
    if not valid_id(given):
        raise BadHeader(f"{UPLOAD_ID_HEADER} must be 1-64 of [A-Za-z0-9.-]")
    return given


def request_id_of(given: str | None) -> str | None:
    """The data request an upload answers (its first 64 characters), if any: printable
    ASCII only."""
    if not given:
        return None
    if not (given.isascii() and given.isprintable()):
        raise BadHeader(f"{REQUEST_ID_HEADER} must be printable ASCII")
    return given[:REQUEST_ID_CHARS]
