"""Category mapping, sensitivity labels, classification and clinical dates."""

from typing import Any

import pytest

from services.ingest.categories import (
    SUPPORTING_TYPES,
    Category,
    Classification,
    category_of,
    classify,
    date_of,
    is_sensitive,
)

ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONF = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


def _labelled(rtype: str, system: str, code: str) -> dict[str, Any]:
    return {"resourceType": rtype, "meta": {"security": [{"system": system, "code": code}]}}


@pytest.mark.parametrize(
    ("rtype", "category"),
    [
        ("AllergyIntolerance", Category.ALLERGY),
        ("Condition", Category.DIAGNOSIS),
        ("MedicationDispense", Category.MEDICATION),
        ("MedicationRequest", Category.MEDICATION),
        ("MedicationStatement", Category.MEDICATION),
        ("Immunization", Category.VACCINE),
        ("Procedure", Category.PROCEDURE),
        ("Observation", Category.LAB_VALUE),
        ("DiagnosticReport", Category.REPORT),
        ("ImagingStudy", Category.REPORT),
        ("Encounter", Category.ENCOUNTER),
    ],
)
def test_category_of(rtype: str, category: Category) -> None:
    assert category_of(rtype) is category
    assert classify({"resourceType": rtype}) == Classification("clinical", category, False)


def test_nine_categories_with_string_values() -> None:
    assert len(Category) == 9
    assert str(Category.LAB_VALUE) == "lab_value"
    assert Category.LAB_VALUE.value == "lab_value"
    assert Category("sensitive") is Category.SENSITIVE


@pytest.mark.parametrize("rtype", ["Claim", "ExplanationOfBenefit", "Bundle", "Patient", "x"])
def test_category_of_non_clinical(rtype: str) -> None:
    assert category_of(rtype) is None


@pytest.mark.parametrize("rtype", sorted(SUPPORTING_TYPES))
def test_supporting(rtype: str) -> None:
    c = classify({"resourceType": rtype})
    assert (c.kind, c.category, c.sensitive) == ("supporting", None, False)


@pytest.mark.parametrize(
    "resource", [{"resourceType": "Claim"}, {"resourceType": "Coverage"}, {}, {"resourceType": 3}]
)
def test_skipped(resource: dict[str, Any]) -> None:
    assert classify(resource) == Classification("skipped", None, False)


@pytest.mark.parametrize(
    "code", ["HIV", "PSY", "SUD", "SDV", "ETH", "GDIS", "SEX", "STD", "TBOO", "SICKLE", "MH"]
)
def test_act_code_sensitivity_labels(code: str) -> None:
    resource = _labelled("Condition", ACT, code)
    assert is_sensitive(resource)
    c = classify(resource)
    assert c == Classification("clinical", Category.DIAGNOSIS, True)
    assert c.categories == {Category.DIAGNOSIS, Category.SENSITIVE}


@pytest.mark.parametrize(
    ("code", "expected"),
    [("R", True), ("V", True), ("N", False), ("M", False), ("L", False), ("U", False)],
)
def test_confidentiality(code: str, expected: bool) -> None:
    assert is_sensitive(_labelled("Observation", CONF, code)) is expected


def test_not_sensitive() -> None:
    assert not is_sensitive({"resourceType": "Condition"})
    assert not is_sensitive({"resourceType": "Condition", "meta": {}})
    assert not is_sensitive({"meta": {"security": "HIV"}})
    assert not is_sensitive({"meta": {"security": [None, {"code": "HIV"}]}})  # no system
    assert not is_sensitive(_labelled("Condition", ACT, "NOTSENSITIVE"))
    assert not is_sensitive(_labelled("Condition", CONF, "HIV"))  # code under wrong system
    assert not is_sensitive({"meta": {"tag": [{"system": ACT, "code": "HIV"}]}})  # tag, not label
    c = classify({"resourceType": "Condition"})
    assert c.categories == {Category.DIAGNOSIS}


def test_one_sensitive_coding_among_many() -> None:
    resource = {
        "resourceType": "Condition",
        "meta": {"security": [{"system": CONF, "code": "N"}, {"system": ACT, "code": "PSY"}]},
    }
    assert is_sensitive(resource)


D = "2024-03-01T10:00:00+07:00"
LU = "2025-01-01T00:00:00+07:00"


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Condition", "recordedDate": D, "onsetDateTime": "2020-01-01"},
        {"resourceType": "Condition", "onsetDateTime": D},
        {"resourceType": "Observation", "effectiveDateTime": D, "issued": LU},
        {"resourceType": "Observation", "issued": D},
        {"resourceType": "Encounter", "period": {"start": D, "end": LU}},
        {"resourceType": "Immunization", "occurrenceDateTime": D},
        {"resourceType": "Procedure", "performedDateTime": D},
        {"resourceType": "Procedure", "performedPeriod": {"start": D}},
        {"resourceType": "MedicationDispense", "whenHandedOver": D},
        {"resourceType": "MedicationRequest", "authoredOn": D},
        {"resourceType": "DiagnosticReport", "effectiveDateTime": D, "issued": LU},
        {"resourceType": "DiagnosticReport", "issued": D},
        {"resourceType": "AllergyIntolerance", "recordedDate": D},
        {"resourceType": "AllergyIntolerance", "onsetDateTime": D},
        {"resourceType": "ImagingStudy", "started": D},
        {"resourceType": "Patient", "meta": {"lastUpdated": D}},
    ],
)
def test_date_of(resource: dict[str, Any]) -> None:
    resource.setdefault("meta", {"lastUpdated": LU})
    assert date_of(resource) == D


def test_date_of_falls_back_and_may_be_none() -> None:
    assert date_of({"resourceType": "Encounter", "meta": {"lastUpdated": LU}}) == LU
    assert (
        date_of({"resourceType": "Encounter", "period": "bad", "meta": {"lastUpdated": LU}}) == LU
    )
    assert date_of({"resourceType": "Claim"}) is None
    assert date_of({}) is None
