"""The synthetic Thai record generator: shape, determinism and parseability."""

import json
import random
from collections import Counter
from typing import Any

import pytest

from healthlink.synthetic import (
    THAI_HOSPITALS,
    make_patient_bundle,
    random_hospital_code,
    synthea_like_bundle,
)
from services.ingest.bundle import parse_bundle
from services.ingest.categories import Category, classify, date_of
from shared.cid import CID_SYSTEM, is_valid_cid

CID = "1101700230708"
CLINICAL = {c for c in Category if c is not Category.SENSITIVE}


def _raw(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def _resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"]]


def test_deterministic() -> None:
    a = make_patient_bundle(random.Random(3), n_resources=30)
    b = make_patient_bundle(random.Random(3), n_resources=30)
    c = make_patient_bundle(random.Random(4), n_resources=30)
    assert a == b
    assert a != c


def test_patient_first_with_cid_hn_thai_name_and_age() -> None:
    bundle = make_patient_bundle(random.Random(1), cid=CID, hospital_code="13781")
    patient = bundle["entry"][0]["resource"]
    assert patient["resourceType"] == "Patient"
    systems = {i["system"]: i["value"] for i in patient["identifier"]}
    assert systems[CID_SYSTEM] == CID
    assert "https://terms.sil-th.org/hcode/5/13781/hn" in systems
    name = patient["name"][0]
    assert any("\u0e00" <= ch <= "\u0e7f" for ch in name["family"])  # Thai script
    age = 2026 - int(patient["birthDate"][:4])
    assert 17 <= age <= 91


def test_random_cid_when_not_given() -> None:
    parsed = parse_bundle(_raw(make_patient_bundle(random.Random(5))))
    assert is_valid_cid(parsed.patient_cid)


def test_all_categories_and_parse() -> None:
    bundle = make_patient_bundle(random.Random(2), n_resources=20)
    assert len(bundle["entry"]) == 20
    parsed = parse_bundle(_raw(bundle))
    kinds = Counter(classify(r).kind for r in parsed.resources)
    assert kinds == {"supporting": 1, "clinical": 19}
    assert {classify(r).category for r in parsed.resources} - {None} == CLINICAL


def test_nine_resources_cover_all_categories() -> None:
    bundle = make_patient_bundle(random.Random(9), n_resources=9, sensitive_fraction=0.0)
    cats = {classify(r).category for r in _resources(bundle)} - {None}
    assert cats == CLINICAL


def test_meta_ids_and_references() -> None:
    bundle = make_patient_bundle(
        random.Random(8), n_resources=40, version=3, updated="2025-06-01T12:00:00+07:00"
    )
    patient_url = bundle["entry"][0]["fullUrl"]
    assert patient_url.startswith("urn:uuid:")
    for entry in bundle["entry"]:
        res = entry["resource"]
        assert entry["fullUrl"] == f"urn:uuid:{res['id']}"
        assert res["meta"]["versionId"] == "3"
        assert res["meta"]["lastUpdated"] == "2025-06-01T12:00:00+07:00"
        assert entry["request"] == {"method": "PUT", "url": f"{res['resourceType']}/{res['id']}"}
        if res["resourceType"] != "Patient":
            ref = res.get("subject") or res.get("patient")
            assert ref == {"reference": patient_url}


def test_dates_within_five_years_before_updated() -> None:
    bundle = make_patient_bundle(random.Random(11), n_resources=60)
    for res in _resources(bundle)[1:]:
        when = date_of(res)
        assert when is not None
        assert "2021-10-01" <= when[:10] <= "2026-11-01"


def test_same_seed_new_version_keeps_ids() -> None:
    v1 = make_patient_bundle(random.Random(6), version=1)
    v2 = make_patient_bundle(random.Random(6), version=2, updated="2026-11-02T00:00:00+07:00")
    assert [r["id"] for r in _resources(v1)] == [r["id"] for r in _resources(v2)]


def test_sensitive_fraction() -> None:
    none = make_patient_bundle(random.Random(1), n_resources=100, sensitive_fraction=0.0)
    assert not any(classify(r).sensitive for r in _resources(none))
    every = make_patient_bundle(random.Random(1), n_resources=50, sensitive_fraction=1.0)
    clinical = [r for r in _resources(every) if classify(r).kind == "clinical"]
    assert all(classify(r).sensitive for r in clinical)
    codes = {r["meta"]["security"][0]["code"] for r in clinical}
    assert codes <= {"HIV", "PSY", "SUD"}
    parse_bundle(_raw(every))


def test_content_codes() -> None:
    resources = _resources(make_patient_bundle(random.Random(12), n_resources=80))
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    for cond in by_type["Condition"]:
        assert cond["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10"
    for obs in by_type["Observation"]:
        assert obs["code"]["coding"][0]["system"] == "http://loinc.org"
        assert obs["valueQuantity"]["system"] == "http://unitsofmeasure.org"
        assert obs["referenceRange"]
    for imm in by_type["Immunization"]:
        assert imm["vaccineCode"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/cvx"
    for med in by_type["MedicationDispense"]:
        assert med["medicationCodeableConcept"]["text"]


@pytest.mark.parametrize("btype", ["transaction", "batch", "collection", "searchset"])
@pytest.mark.parametrize("seed", range(10))
def test_many_bundles_parse(btype: str, seed: int) -> None:
    rng = random.Random(seed)
    bundle = make_patient_bundle(
        rng,
        n_resources=rng.randint(1, 50),
        bundle_type=btype,
        sensitive_fraction=0.3,
        hospital_code=random_hospital_code(rng),
    )
    parsed = parse_bundle(_raw(bundle))
    assert parsed.bundle_type == btype
    assert len(parsed.resources) == len(bundle["entry"])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        make_patient_bundle(random.Random(1), n_resources=0)
    with pytest.raises(ValueError):
        make_patient_bundle(random.Random(1), bundle_type="history")


def test_hospitals() -> None:
    assert len(THAI_HOSPITALS) >= 10
    assert ("10670", "โรงพยาบาลศิริราช", "Siriraj Hospital") in THAI_HOSPITALS
    rng = random.Random(0)
    codes = [random_hospital_code(rng) for _ in range(100)]
    assert all(len(c) == 5 and c.isdigit() for c in codes)


def test_synthea_like_bundle_parses() -> None:
    bundle = synthea_like_bundle(random.Random(1), CID)
    assert bundle["type"] == "transaction"
    assert all(e["request"]["method"] == "POST" for e in bundle["entry"])
    assert all(e["fullUrl"].startswith("urn:uuid:") for e in bundle["entry"])
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert {"Claim", "ExplanationOfBenefit", "Patient"} <= set(types)
    parsed = parse_bundle(_raw(bundle))
    assert parsed.patient_cid == CID
    kinds = {r["resourceType"]: classify(r).kind for r in parsed.resources}
    assert kinds["Claim"] == kinds["ExplanationOfBenefit"] == "skipped"
    patient = parsed.resources[0]
    assert patient["meta"]["profile"][0].endswith("us-core-patient")
    claim = next(r for r in parsed.resources if r["resourceType"] == "Claim")
    assert claim["patient"]["reference"] == f"Patient/{patient['id']}"
