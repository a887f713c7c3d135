"""Dead letters as operators see them: shape, never content; pending or retried."""

from __future__ import annotations

import json

import pytest

from shared.admin import DeadLetterBook
from shared.deadletter import DeadLetter, SourceMessage, describe, preview
from shared.events import RecordAccessed
from tests.support.events import raw

pytestmark = pytest.mark.unit
CID = "1101700230708"


def bundle() -> bytes:
    entries = [
        {"resource": {"resourceType": "Patient", "id": "p", "name": [{"text": "สมชาย ใจดี"}]}},
        {"resource": {"resourceType": "Condition", "id": "c1", "code": {"text": "HIV"}}},
        {"resource": {"resourceType": "Condition", "id": "c2"}},
    ]
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()


def letter(letter_id: str, reason: str, value: bytes, service: str = "ingest") -> DeadLetter:
    headers = {"hl-hospital": "10670", "hl-signature": "sha256=abc", "hl-upload-id": "u1"}
    return DeadLetter(
        id=letter_id, reason=reason, detail="d", service=service, time="2026-11-01T00:00:00+00:00",
        source=SourceMessage("healthlink.ingest.uploads", 2, 7, CID.encode(), value, headers),
    )  # fmt: skip


def test_a_bundle_preview_counts_resource_types_and_shows_no_content() -> None:
    shown = preview(bundle())
    assert shown["kind"] == "fhir-bundle"
    assert shown["resource_types"] == {"Condition": 2, "Patient": 1}
    assert "HIV" not in json.dumps(shown) and "สมชาย" not in json.dumps(shown, ensure_ascii=False)


def test_an_event_preview_shows_its_type_and_subject_only() -> None:
    event = raw(RecordAccessed, CID, {"physician": "x"})
    shown = preview(event.model_dump_json().encode())
    assert shown["kind"] == "event" and shown["event_type"] == "th.healthlink.record.accessed.v1"
    assert shown["subject"] == CID and "physician" not in json.dumps(shown)


@pytest.mark.parametrize("value", [b"\x00\xff", b"[1, 2]", b'{"a": 1}'])
def test_anything_else_shows_only_its_size(value: bytes) -> None:
    shown = preview(value)
    assert shown["bytes"] == len(value) and set(shown) == {"bytes", "kind"}


def test_describe_hides_the_signature_and_reports_status() -> None:
    shown = describe(letter("a", "no-consent", bundle()), retried_at="2026-11-02T00:00:00+00:00")
    assert "hl-signature" not in shown["headers"] and shown["headers"]["hl-upload-id"] == "u1"
    assert shown["status"] == "retried" and shown["source"]["offset"] == 7


def test_the_book_selects_by_id_reason_service_and_status() -> None:
    book = DeadLetterBook(
        letters=[
            letter("a", "no-consent", b"{}"),
            letter("b", "no-consent", b"{}"),
            letter("c", "malformed-event", b"x", service="notify"),
        ],
        retried={"a": "2026-11-02T00:00:00+00:00"},
    )
    assert [x.id for x in book.select(reason="no-consent", status="pending")] == ["b"]
    assert [x.id for x in book.select(status="retried")] == ["a"]
    assert [x.id for x in book.select(service="notify")] == ["c"]
    assert [x.id for x in book.select(ids=["a", "c"])] == ["a", "c"]
    assert book.show(book.letters[0])["status"] == "retried"
