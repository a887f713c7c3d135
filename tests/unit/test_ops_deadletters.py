"""Dead letters as operators see them: shape, never content; pending or retried."""

from __future__ import annotations

import base64
import json

import pytest
from aiokafka.errors import TopicAuthorizationFailedError

from shared import topics
from shared.acl import writers_of
from shared.admin import DeadLetterBook, matcher, refuse_foreign, retry_letters
from shared.broker import RecordingPublisher
from shared.deadletter import DeadLetter, DeadLetters, SourceMessage, describe, preview
from shared.deadletter_cursor import MAX_LIMIT, check_limit, decode_cursor, encode_cursor
from shared.errors import Forbidden, InvalidInput
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


def test_the_filters_are_one_predicate_the_listing_pages_use() -> None:
    retried = {"a": "2026-11-02T00:00:00+00:00"}
    keep = matcher(retried, "no-consent", "", "healthlink.ingest.uploads", "pending")
    assert not keep(letter("a", "no-consent", b"{}"))  # retried
    assert keep(letter("b", "no-consent", b"{}"))
    assert not keep(letter("c", "malformed-event", b"{}"))


def test_a_cursor_round_trips_and_a_bad_one_is_refused_with_a_reason() -> None:
    token = encode_cursor({0: 12, 5: 0, 2: 7})
    assert decode_cursor(token) == {0: 12, 2: 7, 5: 0}
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    bad = {
        "!!!": "not a token",
        encode_raw({"v": 2, "p": {}}): "not a token",
        encode_raw({"v": 1, "p": {"0": -1}}): "negative",
        encode_raw({"v": 1, "p": {"x": 1}}): "whole numbers",
        encode_raw({"v": 1, "p": {"0": 1.5}}): "whole numbers",
        encode_raw({"v": 1, "p": {"0": True}}): "whole numbers",
        encode_raw([1, 2]): "not a token",
        "A" * 5000: "too long",
    }
    for given, why in bad.items():
        with pytest.raises(InvalidInput, match=why):
            decode_cursor(given)


def encode_raw(body: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1])
def test_a_limit_out_of_range_is_refused(limit: int) -> None:
    with pytest.raises(InvalidInput, match=f"between 1 and {MAX_LIMIT}"):
        check_limit(limit)


def test_each_topic_has_the_services_that_may_retry_into_it() -> None:
    assert writers_of(topics.CONSENT_EVENTS) == ["consent"]
    assert writers_of(topics.INGEST_UPLOADS) == ["ingest"]
    assert writers_of(topics.ACCESS_EVENTS) == ["query"]
    assert writers_of("healthlink.consent.datarequests.10670") == ["consent"]
    assert writers_of("healthlink.nothing") == []


def consent_letter(letter_id: str) -> DeadLetter:
    source = SourceMessage(topics.CONSENT_EVENTS, 0, 3, CID.encode(), b"{}", {})
    return DeadLetter(letter_id, "handler-failed", "d", "query", source, "2026-11-01T00:00:00")


def test_a_retry_through_a_service_that_does_not_own_the_topic_names_the_owner() -> None:
    refuse_foreign("ingest", [letter("a", "no-consent", b"{}")])  # ingest owns uploads
    with pytest.raises(Forbidden) as refused:
        refuse_foreign("query", [letter("a", "no-consent", b"{}"), consent_letter("b")])
    assert refused.value.status == 403
    detail = refused.value.detail
    assert "healthlink.consent.events (1 letter(s); written by consent)" in detail
    assert "healthlink.ingest.uploads (1 letter(s); written by ingest)" in detail
    assert detail.startswith("the query service may not write")


class RefusingPublisher(RecordingPublisher):
    """Kafka's answer to a write without an ACL."""

    async def publish_raw(
        self, topic: str, value: bytes, *, key: bytes | None, headers: dict[str, str]
    ) -> None:
        if topic == topics.CONSENT_EVENTS:
            raise TopicAuthorizationFailedError(topic)
        await super().publish_raw(topic, value, key=key, headers=headers)


async def test_the_brokers_refusal_of_a_retry_is_a_403_naming_the_owner() -> None:
    publisher = RefusingPublisher()
    dead = DeadLetters(publisher, "query", "")  # type: ignore[arg-type]
    with pytest.raises(Forbidden, match="Kafka refused: the query service may not write") as e:
        await retry_letters(dead, [letter("a", "x", b"{}"), consent_letter("b")])
    assert "written by consent" in e.value.detail and "1 letter(s) were retried before" in (
        e.value.detail
    )
    assert [t for t, *_ in publisher.raw] == [topics.INGEST_UPLOADS, topics.DEAD_LETTER_RETRIES]
