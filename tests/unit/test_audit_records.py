"""What audit keeps of each message, and its FHIR R4 AuditEvent (IHE BALP) export."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from services.audit import fhir, sources
from services.audit.chain import next_record
from shared.deadletter import SourceMessage
from shared.events import (
    BreakGlassDeclared,
    ConsentGranted,
    ConsentRevoked,
    Event,
    HospitalRegistered,
    PhysicianAdded,
    PhysicianSignedIn,
    RecordAccessed,
    SignInFailed,
)
from tests.support.events import raw

pytestmark = pytest.mark.unit
NOW = datetime(2026, 2, 15, 5, 0, tzinfo=UTC)
CID = "1100700000001"


def access(**extra: Any) -> Any:
    data = {
        "physician": "12345",
        "physician_name": "นพ. ทดสอบ",
        "hospital": "11535",
        "patient": CID,
        "purpose": "TREAT",
        "decision": "permit",
        "reason": "consent",
        "categories": ["lab_value", "medication"],
        "break_glass": False,
        "time": "2026-02-15T05:00:00+00:00",
        **extra,
    }
    return raw(RecordAccessed, CID, data)


def stored(entry: sources.Entry) -> dict[str, Any]:
    record = next_record(entry.chain, None, entry.event_id, entry.body)
    return {**record, **entry.index}


def test_an_access_event_is_indexed_by_patient_physician_hospital_and_time() -> None:
    entry = sources.from_envelope("access", 3, access())
    assert entry.chain == "access.p3"
    assert entry.index["patient"] == CID and entry.index["physician"] == "12345"
    assert entry.index["time"] == NOW and entry.index["decision"] == "permit"
    assert entry.body["data"]["physician_name"] == "นพ. ทดสอบ"


def test_consent_and_hospital_events_are_indexed_by_their_subject() -> None:
    consent = raw(ConsentGranted, CID, {"version": 1})
    hospital = raw(HospitalRegistered, "10670", {})
    assert sources.from_envelope("consent", 0, consent).index["patient"] == CID
    assert sources.from_envelope("hospital", 1, hospital).index["hospital"] == "10670"


def test_a_dead_letter_keeps_a_digest_never_the_payload_or_its_signature() -> None:
    source = SourceMessage(
        topic="healthlink.deadletter",
        partition=2,
        offset=7,
        key=b"k",
        value=b'{"name": "secret clinical text"}',
        headers={
            "hl-dlq-id": "abc",
            "hl-dlq-reason": "bad-signature",
            "hl-signature": "sha256=00",
            "hl-hospital": "10670",
        },
    )
    entry = sources.from_dead_letter(source, NOW)
    assert entry.chain == "deadletter.p2" and entry.event_id == "dlq:abc"
    assert "secret" not in str(entry.body) and "hl-signature" not in entry.body["headers"]
    assert entry.body["bytes"] == len(source.value) and entry.index["hospital"] == "10670"


def test_times_without_zone_or_unreadable_fall_back() -> None:
    assert sources.parse_time("2026-02-15T05:00:00") == NOW
    assert sources.parse_time("2026-02-15T12:00:00+07:00") == NOW
    assert sources.parse_time("yesterday") is None
    assert sources.parse_time(None) is None
    assert sources.parse_time("9999-12-31T23:59:59-23:59") is None  # beyond year 9999 in UTC


@pytest.mark.parametrize(
    ("event", "outcome", "purpose"),
    [
        (access(), "0", ["TREAT"]),
        (access(decision="deny", reason="no consent", categories=[]), "4", ["TREAT"]),
        (access(break_glass=True, break_glass_reason="ER"), "0", ["ETREAT", "BTG"]),
    ],
)
def test_access_records_are_balp_audit_events(event: Any, outcome: str, purpose: list[str]) -> None:
    resource = fhir.audit_event(stored(sources.from_envelope("access", 0, event)))
    AuditEvent.model_validate(resource)
    assert resource["outcome"] == outcome
    assert [c["coding"][0]["code"] for c in resource["purposeOfEvent"]] == purpose
    assert resource["type"]["code"] == "rest" and resource["action"] == "E"
    user = resource["agent"][0]
    assert user["who"]["identifier"]["value"] == "12345" and user["requestor"] is True
    patient = resource["entity"][0]
    assert patient["what"]["identifier"]["value"] == CID and patient["role"]["code"] == "1"


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (PhysicianSignedIn, "110114"),
        (SignInFailed, "110114"),
        (PhysicianAdded, "110136"),
        (BreakGlassDeclared, "110113"),
    ],
)
def test_security_events_use_dicom_event_codes(kind: type[Event], code: str) -> None:
    data = {"physician": "12345", "hospital": "11535", "time": "2026-02-15T05:00:00+00:00"}
    event = raw(kind, "12345", data)
    resource = fhir.audit_event(stored(sources.from_envelope("security", 0, event)))
    AuditEvent.model_validate(resource)
    assert resource["type"]["code"] == code
    if kind is SignInFailed:
        assert resource["outcome"] == "4"


def test_a_bundle_of_every_kind_is_valid_fhir() -> None:
    consent = raw(ConsentRevoked, CID, {"version": 2})
    letter = SourceMessage("t", 0, 0, None, b"x", {"hl-dlq-id": "1", "hl-dlq-reason": "no-consent"})
    records = [
        stored(sources.from_envelope("access", 0, access())),
        stored(sources.from_envelope("consent", 0, consent)),
        stored(sources.from_dead_letter(letter, NOW)),
    ]
    bundle = fhir.bundle(records)
    Bundle.model_validate(bundle)
    assert [e["resource"]["outcome"] for e in bundle["entry"]] == ["0", "0", "8"]


def test_bundle_entries_have_stable_urn_uuid_full_urls() -> None:
    records = [stored(sources.from_envelope("access", 0, access()))]
    first, again = fhir.bundle(records), fhir.bundle(records)
    url = first["entry"][0]["fullUrl"]
    assert url.startswith("urn:uuid:") and url == again["entry"][0]["fullUrl"]
    assert first["entry"][0]["search"] == {"mode": "match"}
    assert "entry" not in fhir.bundle([])  # an empty array is invalid FHIR
