"""parse_bundle: rejections, urn:uuid resolution and the parsed result."""

import copy
import json
from typing import Any

import pytest

from services.ingest.bundle import ParsedBundle, parse_bundle
from services.ingest.errors import BundleRejected
from shared.cid import CID_SYSTEM

CID = "1101700230708"
OTHER_CID = "1234567890121"
PAT_UUID = "11111111-1111-4111-8111-111111111111"
OBS_UUID = "22222222-2222-4222-8222-222222222222"


def _patient(cid: str | None = CID, rid: str | None = "p1") -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Patient", "name": [{"family": "ใจดี"}]}
    if rid is not None:
        res["id"] = rid
    if cid is not None:
        res["identifier"] = [{"system": CID_SYSTEM, "value": cid}]
    return res


def _observation(subject: str = f"urn:uuid:{PAT_UUID}", rid: str | None = "o1") -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "subject": {"reference": subject},
        "valueQuantity": {"value": 95, "unit": "mg/dL"},
    }
    if rid is not None:
        res["id"] = rid
    return res


def _bundle(*resources: dict[str, Any], btype: str = "transaction") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": "b1",
        "type": btype,
        "entry": [{"resource": r} for r in resources],
    }


def _raw(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def _reject(raw: bytes, **kwargs: Any) -> BundleRejected:
    with pytest.raises(BundleRejected) as info:
        parse_bundle(raw, **kwargs)
    return info.value


def test_minimal_bundle() -> None:
    parsed = parse_bundle(_raw(_bundle(_patient(), _observation("Patient/p1"))))
    assert isinstance(parsed, ParsedBundle)
    assert parsed.bundle_id == "b1"
    assert parsed.bundle_type == "transaction"
    assert parsed.patient_cid == CID
    assert [r["resourceType"] for r in parsed.resources] == ["Patient", "Observation"]
    assert parsed.resources[1] == _observation("Patient/p1")  # kept exactly as sent


@pytest.mark.parametrize(
    "btype", ["transaction", "batch", "collection", "searchset", "document", "message"]
)
def test_bundle_types(btype: str) -> None:
    assert parse_bundle(_raw(_bundle(_patient(), btype=btype))).bundle_type == btype


def test_no_bundle_id() -> None:
    doc = _bundle(_patient())
    del doc["id"]
    assert parse_bundle(_raw(doc)).bundle_id is None


def test_oversized_checked_before_parsing() -> None:
    exc = _reject(b"{" * 200, max_bytes=100)
    assert exc.reason == "oversized"
    raw = _raw(_bundle(_patient()))
    assert _reject(raw, max_bytes=len(raw) - 1).reason == "oversized"
    assert parse_bundle(raw, max_bytes=len(raw)).patient_cid == CID


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"\xff\xfe{}", b"[" * 100_000])
def test_malformed_json(raw: bytes) -> None:
    assert _reject(raw).reason == "malformed-json"


@pytest.mark.parametrize(
    "doc",
    [
        [],
        "Bundle",
        {"resourceType": "Patient"},
        {"type": "transaction", "entry": []},
        {"resourceType": "Bundle"},
        {"resourceType": "Bundle", "type": "history", "entry": [{"resource": _patient()}]},
        {"resourceType": "Bundle", "type": "transaction", "entry": {"resource": _patient()}},
    ],
)
def test_not_a_bundle(doc: Any) -> None:
    assert _reject(_raw(doc)).reason == "not-a-bundle"


@pytest.mark.parametrize(
    "doc",
    [
        {"resourceType": "Bundle", "type": "transaction"},
        {"resourceType": "Bundle", "type": "transaction", "entry": []},
        {"resourceType": "Bundle", "type": "transaction", "entry": [{"fullUrl": "urn:uuid:x"}]},
    ],
)
def test_empty_bundle(doc: Any) -> None:
    assert _reject(_raw(doc)).reason == "empty-bundle"


def test_entry_without_resource_is_ignored() -> None:
    doc = _bundle(_patient())
    doc["entry"].append({"request": {"method": "DELETE", "url": "Observation/o1"}})
    assert len(parse_bundle(_raw(doc)).resources) == 1


def test_invalid_resource_detail_has_path_not_value() -> None:
    bad = _observation()
    bad["status"] = 12345
    bad["valueQuantity"] = {"value": "ninety-five-secret"}
    exc = _reject(_raw(_bundle(_patient(), bad)))
    assert exc.reason == "invalid-resource"
    assert exc.detail.startswith("entry[1] Observation: ")
    assert "ninety-five-secret" not in exc.detail and "12345" not in exc.detail
    assert exc.reason in str(exc)


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Observation", "status": "final"},  # missing code
        {"resourceType": "Patient", "birthDate": "1990-13-45"},
        {"resourceType": "Patient", "unknownField": 1},
        {"resourceType": "Patient", "id": "has spaces"},
        {"resourceType": "NotAResource"},
        {"resourceType": "Address"},  # a datatype, not a resource
        {"resourceType": "DomainResource"},
        {"name": "no type"},
        {"resourceType": "Patient", "contained": [{"resourceType": "Bogus"}]},
        "not an object",
    ],
)
def test_invalid_resource(resource: Any) -> None:
    exc = _reject(_raw(_bundle(_patient(), resource)))
    assert exc.reason == "invalid-resource"
    assert exc.detail.startswith("entry[1]")
    assert "1990-13-45" not in exc.detail


def test_entry_not_an_object() -> None:
    doc = _bundle(_patient())
    doc["entry"].append("x")
    assert _reject(_raw(doc)).reason == "invalid-resource"


def test_validation_error_does_not_leak_patient_values() -> None:
    pat = _patient()
    pat["birthDate"] = "secret-birthdate"
    pat["gender"] = ["secret-gender"]
    exc = _reject(_raw(_bundle(pat)))
    assert exc.reason == "invalid-resource"
    assert "secret" not in exc.detail and "secret" not in str(exc)


@pytest.mark.parametrize(
    "patient",
    [
        _patient(cid=None),
        _patient(cid="1101700230703"),  # bad check digit
        _patient(cid="0101700230708"),
        {"resourceType": "Patient", "id": "p", "identifier": [{"system": "x", "value": CID}]},
    ],
)
def test_no_cid(patient: dict[str, Any]) -> None:
    exc = _reject(_raw(_bundle(patient, _observation())))
    assert exc.reason == "no-cid"
    assert CID not in exc.detail


def test_no_patient_at_all() -> None:
    assert _reject(_raw(_bundle(_observation()))).reason == "no-cid"


def test_cid_only_from_patient() -> None:
    ident = [{"system": CID_SYSTEM, "value": CID}]
    other = {"resourceType": "Practitioner", "id": "d1", "identifier": ident}
    assert _reject(_raw(_bundle(other))).reason == "no-cid"


def test_two_patients_same_cid_ok_different_rejected() -> None:
    same = _bundle(_patient(rid="a"), _patient(rid="b"))
    assert parse_bundle(_raw(same)).patient_cid == CID
    exc = _reject(_raw(_bundle(_patient(rid="a"), _patient(cid=OTHER_CID, rid="b"))))
    assert exc.reason == "invalid-resource"
    assert CID not in exc.detail and OTHER_CID not in exc.detail


def test_valid_cid_found_among_identifiers() -> None:
    pat = _patient(cid="1101700230703")
    pat["identifier"].append({"system": CID_SYSTEM, "value": CID})
    assert parse_bundle(_raw(_bundle(pat))).patient_cid == CID


def test_urn_uuid_references_resolved() -> None:
    pat = _patient(rid=None)
    obs = _observation(rid="obs-1")
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r1",
        "status": "final",
        "code": {"text": "panel"},
        "subject": {"reference": f"urn:uuid:{PAT_UUID}"},
        "result": [{"reference": f"urn:uuid:{OBS_UUID}"}, {"reference": "urn:uuid:elsewhere"}],
        "performer": [{"reference": "Organization/o1"}],
    }
    doc = _bundle(pat, obs, report)
    doc["entry"][0]["fullUrl"] = f"urn:uuid:{PAT_UUID}"
    doc["entry"][1]["fullUrl"] = f"urn:uuid:{OBS_UUID}"
    parsed = parse_bundle(_raw(doc))
    p, o, r = parsed.resources
    assert p["id"] == PAT_UUID  # no id: the uuid becomes the id
    assert o["id"] == "obs-1"  # an existing id wins
    assert o["subject"] == {"reference": f"Patient/{PAT_UUID}"}
    assert r["subject"] == {"reference": f"Patient/{PAT_UUID}"}
    assert r["result"] == [{"reference": "Observation/obs-1"}, {"reference": "urn:uuid:elsewhere"}]
    assert r["performer"] == [{"reference": "Organization/o1"}]


def test_bad_uuid_in_full_url_without_id() -> None:
    doc = _bundle(_patient(rid=None))
    doc["entry"][0]["fullUrl"] = "urn:uuid:not a uuid!"
    assert _reject(_raw(doc)).reason == "invalid-resource"


def test_resource_without_id_or_urn_uuid_rejected() -> None:
    exc = _reject(_raw(_bundle(_patient(), _observation("Patient/p1", rid=None))))
    assert (exc.reason, exc.detail) == ("invalid-resource", "entry[1] Observation: no id")


def test_non_urn_full_url_left_alone() -> None:
    doc = _bundle(_patient(), _observation("http://example.org/fhir/Patient/p1"))
    doc["entry"][0]["fullUrl"] = "http://example.org/fhir/Patient/p1"
    parsed = parse_bundle(_raw(doc))
    assert parsed.resources[1]["subject"]["reference"] == "http://example.org/fhir/Patient/p1"


def test_input_document_not_needed_after_parse() -> None:
    doc = _bundle(_patient(), _observation("Patient/p1"))
    before = copy.deepcopy(doc)
    parse_bundle(_raw(doc))
    assert doc == before


def test_rejection_is_an_invalid_input_with_code() -> None:
    from shared.errors import InvalidInput

    exc = _reject(b"nope")
    assert isinstance(exc, InvalidInput)
    assert exc.code == "malformed-json"
    assert _reject(b"x" * 10, max_bytes=5).status == 413
