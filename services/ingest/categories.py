"""Health Link data categories and resource classification."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal


class Category(StrEnum):
    """The nine Health Link data categories."""

    ALLERGY = "allergy"
    DIAGNOSIS = "diagnosis"
    MEDICATION = "medication"
    VACCINE = "vaccine"
    PROCEDURE = "procedure"
    LAB_VALUE = "lab_value"
    REPORT = "report"
    ENCOUNTER = "encounter"
    SENSITIVE = "sensitive"


CATEGORY_BY_TYPE: Mapping[str, Category] = {
    "AllergyIntolerance": Category.ALLERGY,
    "Condition": Category.DIAGNOSIS,
    "MedicationDispense": Category.MEDICATION,
    "MedicationRequest": Category.MEDICATION,
    "MedicationStatement": Category.MEDICATION,
    "Immunization": Category.VACCINE,
    "Procedure": Category.PROCEDURE,
    "Observation": Category.LAB_VALUE,
    "DiagnosticReport": Category.REPORT,
    "ImagingStudy": Category.REPORT,
    "Encounter": Category.ENCOUNTER,
}

SUPPORTING_TYPES = frozenset({"Patient", "Organization", "Practitioner"})

ACT_CODE_SYSTEMS = frozenset(
    {"http://terminology.hl7.org/CodeSystem/v3-ActCode", "http://hl7.org/fhir/v3/ActCode"}
)
CONFIDENTIALITY_SYSTEMS = frozenset(
    {
        "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
        "http://hl7.org/fhir/v3/Confidentiality",
    }
)
# v3 ActCode _InformationSensitivityPolicy codes (health-related subset).
SENSITIVE_ACT_CODES = frozenset(
    {
        "ETH", "ETHUD", "OPIOIDUD", "SUD",  # substance use
        "GDIS",  # genetic disease
        "HIV", "STD", "SEX",  # sexual health
        "SDV", "DVD",  # sexual/domestic violence
        "MST",  # military sexual trauma
        "PSY", "PSYTHPN", "MH", "BH", "COGN", "EMOTDIS",  # mental/behavioural health
        "SCA", "SICKLE",  # sickle cell
        "SPI",  # sensitive personal information
        "TBOO",  # taboo
        "PREGNANT", "DRGIS",  # pregnancy, drug information
    }
)  # fmt: skip
SENSITIVE_CONFIDENTIALITY_CODES = frozenset({"R", "V"})


def category_of(resource_type: str) -> Category | None:
    """Base category for a clinical resource type, else None."""
    return CATEGORY_BY_TYPE.get(resource_type)


def is_sensitive(resource: Mapping[str, Any]) -> bool:
    """True when ``meta.security`` carries a sensitivity or R/V confidentiality label."""
    meta = resource.get("meta")
    if not isinstance(meta, Mapping):
        return False
    security = meta.get("security")
    if not isinstance(security, list):
        return False
    for coding in security:
        if not isinstance(coding, Mapping):
            continue
        system, code = coding.get("system"), coding.get("code")
        if system in ACT_CODE_SYSTEMS and code in SENSITIVE_ACT_CODES:
            return True
        if system in CONFIDENTIALITY_SYSTEMS and code in SENSITIVE_CONFIDENTIALITY_CODES:
            return True
    return False


@dataclass(frozen=True)
class Classification:
    """How Health Link treats a resource."""

    kind: Literal["clinical", "supporting", "skipped"]
    category: Category | None
    sensitive: bool

    @property
    def categories(self) -> frozenset[Category]:
        """Consent categories covering this resource (base plus SENSITIVE if labelled)."""
        if self.category is None:
            return frozenset({Category.SENSITIVE}) if self.sensitive else frozenset()
        if self.sensitive:
            return frozenset({self.category, Category.SENSITIVE})
        return frozenset({self.category})


def classify(resource: Mapping[str, Any]) -> Classification:
    """Classify a resource dict as clinical (with category), supporting or skipped."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return Classification("skipped", None, False)
    category = CATEGORY_BY_TYPE.get(rtype)
    if category is not None:
        return Classification("clinical", category, is_sensitive(resource))
    if rtype in SUPPORTING_TYPES:
        return Classification("supporting", None, is_sensitive(resource))
    return Classification("skipped", None, False)


# Candidate date paths per type, in order of preference.
_DATE_PATHS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "Condition": (("recordedDate",), ("onsetDateTime",), ("onsetPeriod", "start")),
    "Observation": (("effectiveDateTime",), ("effectivePeriod", "start"), ("effectiveInstant",),
                    ("issued",)),
    "Encounter": (("period", "start"),),
    "Immunization": (("occurrenceDateTime",), ("recorded",)),
    "Procedure": (("performedDateTime",), ("performedPeriod", "start")),
    "MedicationDispense": (("whenHandedOver",), ("whenPrepared",)),
    "MedicationRequest": (("authoredOn",),),
    "MedicationStatement": (("effectiveDateTime",), ("effectivePeriod", "start"),
                            ("dateAsserted",)),
    "DiagnosticReport": (("effectiveDateTime",), ("effectivePeriod", "start"), ("issued",)),
    "AllergyIntolerance": (("recordedDate",), ("onsetDateTime",), ("onsetPeriod", "start")),
    "ImagingStudy": (("started",),),
}  # fmt: skip


def _get_str(resource: Mapping[str, Any], path: tuple[str, ...]) -> str | None:
    node: Any = resource
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node if isinstance(node, str) and node else None


def date_of(resource: Mapping[str, Any]) -> str | None:
    """Clinically relevant date (ISO string as sent) for sorting and date search."""
    rtype = resource.get("resourceType")
    paths = _DATE_PATHS.get(rtype, ()) if isinstance(rtype, str) else ()
    for path in paths:
        value = _get_str(resource, path)
        if value is not None:
            return value
    return _get_str(resource, ("meta", "lastUpdated"))
