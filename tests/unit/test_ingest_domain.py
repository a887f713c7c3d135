"""Ingest rules (``services/ingest/domain.py``): pure, no I/O."""

from __future__ import annotations

import pytest

from services.ingest.domain import (
    Upload,
    arrive,
    check_signature,
    newest_per_id,
    receipt_of,
    request_id_of,
    vet,
)
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
from shared.deadletter import SourceMessage
from shared.errors import Forbidden, InvalidInput, Rejected, Unauthorized
from tests.support.credentials import credentialed
from tests.support.ingest import PROVIDER, patient_bundle, signature

pytestmark = pytest.mark.unit


def source(body: bytes, headers: dict[str, str]) -> SourceMessage:
    return SourceMessage("uploads", 0, 0, None, body, headers)


SENDER = credentialed(HospitalState(code=PROVIDER, name="P", role="provider"))


def test_a_signature_is_the_bodys_under_one_of_the_senders_keys_and_ascii_only() -> None:
    _, body = patient_bundle()
    assert check_signature(SENDER, body, signature(body)) == f"{PROVIDER}-test-1"
    refusals: list[tuple[HospitalState, bytes, str | None, type[Rejected]]] = [
        (SENDER, body, signature(body, "11535"), UnknownKey),  # another hospital's key
        (SENDER, body + b" ", signature(body), BadSignature),
        (SENDER, body, signature(body) + "é", BadSignature),
        (SENDER, body, "sha256=00", BadSignature),  # yesterday's HMAC
        (SENDER, body, None, BadSignature),
        (SENDER.model_copy(update={"signing_keys": ()}), body, signature(body), NoSigningKey),
    ]
    for sender, data, given, kind in refusals:
        with pytest.raises(kind) as info:
            check_signature(sender, data, given)
        assert PROVIDER in info.value.detail


def test_arrive_names_the_sender_or_the_reason() -> None:
    _, body = patient_bundle()
    good = {"hl-hospital": PROVIDER, "hl-signature": signature(body)}
    senders = {PROVIDER: SENDER, "11535": credentialed(SENDER.model_copy(update={"code": "11535"}))}
    arrived = arrive(10_000_000, 0, source(body, good), senders)
    assert arrived.hospital == PROVIDER and arrived.verified
    unknown = arrive(10_000_000, 0, source(body, {**good, "hl-hospital": "99999"}), senders)
    assert not unknown.verified, "checked when its hospital is known (held until then)"
    cases: list[tuple[dict[str, str], type[Rejected], str]] = [
        ({"hl-signature": signature(body)}, Unsigned, "unsigned"),
        ({"hl-hospital": PROVIDER}, Unsigned, "unsigned"),
        ({**good, "hl-signature": "sha256=00"}, BadSignature, "bad-signature"),
        ({**good, "hl-hospital": "11535"}, UnknownKey, "unknown-key"),
    ]
    for headers, kind, code in cases:
        with pytest.raises(kind) as info:
            arrive(10_000_000, 0, source(body, headers), senders)
        assert info.value.code == code


def test_errors_keep_their_reason_and_their_http_status() -> None:
    """The code is the dead-letter reason; the class is the HTTP status (shared map)."""
    assert (Unsigned("x").code, Unsigned("x").status) == ("unsigned", 401)
    assert isinstance(BadSignature("x"), Unauthorized) and BadSignature("x").code == "bad-signature"
    refused = NotAProvider("11535")
    assert isinstance(refused, Forbidden) and refused.code == "not-a-provider"
    assert refused.detail == "hospital 11535 is not a data provider"
    assert isinstance(BadHeader("x"), InvalidInput) and BadHeader("x").status == 400
    assert BundleRejected("oversized", "big").status == 413
    assert BundleRejected("no-cid", "none").status == 400


def test_the_receipt_is_the_hospitals_upload_id_or_a_new_one() -> None:
    assert receipt_of("up-1.2") == "up-1.2"
    assert len(receipt_of(None)) == 36 and receipt_of(None) != receipt_of(None)
    for bad in ("", "no spaces", "x" * 65, "é", "ก", "a\x00"):
        with pytest.raises(BadHeader, match="hl-upload-id"):
            receipt_of(bad)


def test_a_request_id_is_printable_ascii_and_kept_to_64_characters() -> None:
    assert request_id_of(None) is None and request_id_of("") is None
    assert request_id_of("req-7") == "req-7"
    assert request_id_of("r" * 100) == "r" * 64
    for bad in ("é", "ก", "a\x00", "tab\there", "\x7f"):
        with pytest.raises(BadHeader, match="hl-request-id"):
            request_id_of(bad)


def test_newest_per_id_keeps_each_id_once_its_highest_rank_first_of_equals() -> None:
    docs = [
        {"_id": "a", "rank": "1", "n": 1},
        {"_id": "b", "rank": "1", "n": 2},
        {"_id": "a", "rank": "2", "n": 3},
        {"_id": "a", "rank": "2", "n": 4},
        {"_id": "b", "rank": "0", "n": 5},
    ]
    assert [d["n"] for d in newest_per_id(docs)] == [3, 2]


def test_vet_checks_the_provider_before_the_bundles_problems() -> None:
    _, body = patient_bundle()
    upload = Upload(0, source(body, {}), "11535", "u", problem=BundleRejected("no-cid", "x"))
    consumer = HospitalState(code="11535", name="C", role="consumer")
    with pytest.raises(NotAProvider):
        vet(upload, {"11535": consumer})
    with pytest.raises(BundleRejected):  # unknown sender: held, so the bundle speaks first
        vet(upload, {"11535": None})
