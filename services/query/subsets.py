"""``_elements`` and ``_summary``: which elements a subsetted resource keeps (pure).

FHIR R4 (search.html#elements, #summary; general parameters of every interaction, so
search, read and ``$everything`` alike): ``_elements=a,b`` keeps those top-level
elements, ``_summary=true`` the elements the base definition marks as summary,
``text`` only the narrative, ``data`` all but the narrative. Every subsetted resource
always keeps ``resourceType``, ``id``, ``meta`` (so ``meta.source`` and the hospital
tag, its source hospital, stay visible) and its mandatory elements (minimum
cardinality 1), and is tagged ``SUBSETTED``. Unknown element names are ignored.
``Type.name`` applies to that type only; ``value`` (or ``value[x]``) names every
``value<Type>`` of a choice. A primitive's ``_name`` goes with ``name``.

``_SUMMARY`` and ``_REQUIRED`` are fhir.resources' element metadata (R4B models,
``summary_element_property``; required, ``element_required`` or
``one_of_many_required``) for the types the query service serves, written out so the
read path imports no models; ``tests/unit/test_query_subsets.py`` checks they still
equal it. R4B and R4 agree on these types' summary and mandatory elements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from services.query.charts import Entry
from shared.errors import InvalidInput

SUBSETTED_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
SUBSETTED = {"system": SUBSETTED_SYSTEM, "code": "SUBSETTED", "display": "subsetted"}
ALWAYS = frozenset({"resourceType", "id", "meta"})
SUMMARIES = ("true", "text", "data", "count", "false")
MAX_ELEMENTS = 100
# The type names a choice element's name ends with (value[x] -> valueQuantity ...).
_CHOICE_TYPES = frozenset(
    ["Age", "Boolean", "Canonical", "Code", "CodeableConcept", "Coding", "DateTime", "Date",
     "Decimal", "Duration", "Instant", "Integer", "Period", "Quantity", "Range", "Ratio",
     "Reference", "SampledData", "String", "Time", "Timing", "Uri", "Url", "Attachment",
     "Identifier", "Annotation", "Money"]
)  # fmt: skip

_SUMMARY = {
    "AllergyIntolerance": (
        "implicitRules asserter category clinicalStatus code criticality "
        "identifier patient type verificationStatus"
    ),
    "Condition": (
        "implicitRules asserter bodySite clinicalStatus code encounter "
        "identifier onsetAge onsetDateTime onsetPeriod onsetRange onsetString "
        "recordedDate recorder subject verificationStatus"
    ),
    "DiagnosticReport": (
        "implicitRules category code effectiveDateTime effectivePeriod "
        "encounter identifier issued media performer resultsInterpreter status "
        "subject"
    ),
    "Encounter": (
        "implicitRules appointment class diagnosis episodeOfCare identifier "
        "participant reasonCode reasonReference serviceType status subject type"
    ),
    "ImagingStudy": (
        "implicitRules basedOn description encounter endpoint identifier "
        "interpreter location modality note numberOfInstances numberOfSeries "
        "procedureCode procedureReference reasonCode reasonReference referrer "
        "series started status subject"
    ),
    "Immunization": (
        "implicitRules isSubpotent note occurrenceDateTime occurrenceString "
        "patient performer primarySource status vaccineCode"
    ),
    "MedicationDispense": (
        "implicitRules medicationCodeableConcept medicationReference status subject whenPrepared"
    ),
    "MedicationRequest": (
        "implicitRules authoredOn basedOn doNotPerform groupIdentifier "
        "instantiatesCanonical instantiatesUri intent medicationCodeableConcept "
        "medicationReference performerType priority reportedBoolean "
        "reportedReference requester status subject"
    ),
    "MedicationStatement": (
        "implicitRules basedOn category context dateAsserted effectiveDateTime "
        "effectivePeriod identifier medicationCodeableConcept "
        "medicationReference partOf status subject"
    ),
    "Observation": (
        "implicitRules basedOn code component derivedFrom effectiveDateTime "
        "effectiveInstant effectivePeriod effectiveTiming encounter focus "
        "hasMember identifier issued partOf performer status subject "
        "valueBoolean valueCodeableConcept valueDateTime valueInteger "
        "valuePeriod valueQuantity valueRange valueRatio valueSampledData "
        "valueString valueTime"
    ),
    "Organization": "implicitRules active identifier name partOf type",
    "Patient": (
        "implicitRules active address birthDate deceasedBoolean "
        "deceasedDateTime gender identifier link managingOrganization name "
        "telecom"
    ),
    "Practitioner": "implicitRules active address birthDate gender identifier name telecom",
    "Procedure": (
        "implicitRules asserter basedOn bodySite category code encounter "
        "identifier instantiatesCanonical instantiatesUri location outcome "
        "partOf performedAge performedDateTime performedPeriod performedRange "
        "performedString performer reasonCode reasonReference recorder status "
        "statusReason subject"
    ),
}
_REQUIRED = {
    "AllergyIntolerance": "patient",
    "Condition": "subject",
    "DiagnosticReport": "code status",
    "Encounter": "class status",
    "ImagingStudy": "status subject",
    "Immunization": "occurrenceDateTime occurrenceString patient status vaccineCode",
    "MedicationDispense": "medicationCodeableConcept medicationReference status",
    "MedicationRequest": "intent medicationCodeableConcept medicationReference status subject",
    "MedicationStatement": "medicationCodeableConcept medicationReference status subject",
    "Observation": "code status",
    "Organization": "",
    "Patient": "",
    "Practitioner": "",
    "Procedure": "status subject",
}
SUMMARY_ELEMENTS = {t: frozenset(names.split()) for t, names in _SUMMARY.items()}
REQUIRED_ELEMENTS = {t: frozenset(names.split()) for t, names in _REQUIRED.items()}


@dataclass(frozen=True)
class Subset:
    """``mode`` ``elements`` (the names asked for), ``true``, ``text`` or ``data``."""

    mode: str
    elements: frozenset[str] = frozenset()

    def apply(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The resource with only the elements this subset keeps, tagged SUBSETTED."""
        rtype = str(resource.get("resourceType", ""))
        kept = {k: v for k, v in resource.items() if self.keeps(rtype, k.removeprefix("_"))}
        meta = dict(kept.get("meta") or {})
        tags = [t for t in meta.get("tag") or [] if isinstance(t, dict)]
        if not any(t.get("system") == SUBSETTED_SYSTEM and t.get("code") == "SUBSETTED"
                   for t in tags):  # fmt: skip
            tags.append(SUBSETTED)
        meta["tag"] = tags
        kept["meta"] = meta
        return kept

    def keeps(self, rtype: str, name: str) -> bool:
        if name in ALWAYS or name in REQUIRED_ELEMENTS.get(rtype, ()):
            return True
        if self.mode == "data":
            return name != "text"
        if self.mode == "text":
            return name == "text"
        if self.mode == "true":
            return name in SUMMARY_ELEMENTS.get(rtype, ())
        return any(_named(rtype, name, asked) for asked in self.elements)


def _named(rtype: str, name: str, asked: str) -> bool:
    owner, dot, base = asked.rpartition(".")
    if dot and owner != rtype:
        return False
    base = base.removesuffix("[x]")
    return name == base or (name.startswith(base) and name[len(base) :] in _CHOICE_TYPES)


def shaped(entries: list[Entry], subset: Subset | None) -> list[Entry]:
    """The entries with their resources subsetted (the same entries without a subset)."""
    if subset is None:
        return entries
    return [{**e, "json": shaped_json(e["json"], subset)} for e in entries]


def shaped_json(text: str, subset: Subset | None) -> str:
    if subset is None:
        return text
    return orjson.dumps(subset.apply(orjson.loads(text))).decode()


def parse_subset(
    pairs: list[tuple[str, str]], strict: bool
) -> tuple[bool, Subset | None, list[str]]:
    """``_summary`` and ``_elements``: (count only?, the subset, what was ignored).

    An unsupported ``_summary`` value, or ``_summary=true|text|data`` beside
    ``_elements`` (which wins), is ignored and named, or refused when ``strict``."""
    summaries = [v for k, v in pairs if k == "_summary"]
    if len(summaries) > 1:
        raise InvalidInput("_summary may be given once")
    summary = summaries[0] if summaries else None
    ignored: list[str] = []
    if summary is not None and summary not in SUMMARIES:
        if strict:
            raise InvalidInput(f"_summary supports {', '.join(SUMMARIES)}")
        ignored.append(f"_summary={summary[:20]}")
        summary = None
    names = {n.strip()[:64] for k, v in pairs if k == "_elements" for n in v.split(",")} - {""}
    if len(names) > MAX_ELEMENTS:
        raise InvalidInput(f"_elements: at most {MAX_ELEMENTS} element names")
    if summary == "count":
        return True, None, ignored
    if names:
        if summary in ("true", "text", "data"):
            if strict:
                raise InvalidInput("_summary=true|text|data and _elements cannot be combined")
            ignored.append(f"_summary={summary} (with _elements)")
        return False, Subset("elements", frozenset(names)), ignored
    if summary in ("true", "text", "data"):
        return False, Subset(summary), ignored
    return False, None, ignored
