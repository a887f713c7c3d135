"""The physician's record screen beyond its tables, from the query service's
``$everything`` Bundle — pure: the drug-allergy banner, the lab trends (numeric
Observations by LOINC code), the counts by data category and by source hospital, the
timeline of visits, and the limits the patient's consent puts on the read."""

from __future__ import annotations

from collections import Counter
from typing import Any

from services.portal.domain import HOSPITAL_SOURCE, describe, records
from shared.fhir import LIMIT_SYSTEM, LIMIT_UNTIL_URL

LOINC = "http://loinc.org"


def limits(bundle: dict[str, Any]) -> list[dict[str, str]]:
    """The limits the query service says the read works under (its ``outcome`` entry,
    docs/fhir.md): each one's code, its end when it has one, and its English words for
    a code the page does not know. The policy, never what it left out."""
    found: list[dict[str, str]] = []
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "OperationOutcome":
            continue
        for issue in resource.get("issue") or []:
            details = issue.get("details") if isinstance(issue, dict) else None
            for coding in (details.get("coding") or []) if isinstance(details, dict) else []:
                if isinstance(coding, dict) and coding.get("system") == LIMIT_SYSTEM:
                    found.append(
                        {
                            "code": str(coding.get("code") or ""),
                            "until": _until(issue),
                            "text": str(issue.get("diagnostics") or ""),
                        }
                    )
    return found


def _until(issue: dict[str, Any]) -> str:
    for extension in issue.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == LIMIT_UNTIL_URL:
            return str(extension.get("valueDateTime") or "")
    return ""


def _texts(concepts: Any) -> list[str]:
    """The text (else display, else code) of each CodeableConcept in a list."""
    out = []
    for concept in concepts if isinstance(concepts, list) else []:
        if not isinstance(concept, dict):
            continue
        codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
        text = concept.get("text") or next(
            (
                c.get("display") or c.get("code")
                for c in codings
                if c.get("display") or c.get("code")
            ),
            "",
        )
        if text:
            out.append(str(text))
    return out


def _hospital(resource: dict[str, Any]) -> str:
    meta = resource.get("meta")
    source = meta.get("source") if isinstance(meta, dict) else None
    return str(source).removeprefix(HOSPITAL_SOURCE) if isinstance(source, str) else ""


def allergy(resource: dict[str, Any]) -> dict[str, Any]:
    """One line of the banner: substance, reactions, criticality, source hospital."""
    line = describe(resource)
    reactions: list[str] = []
    for reaction in resource.get("reaction") or []:
        if isinstance(reaction, dict):
            reactions += _texts(reaction.get("manifestation"))
    criticality = resource.get("criticality")
    return {
        "substance": line["what"],
        "reactions": reactions,
        "criticality": criticality if isinstance(criticality, str) else "",
        "date": line["date"],
        "hospital": line["hospital"],
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _range(resource: dict[str, Any]) -> tuple[float | None, float | None]:
    for found in resource.get("referenceRange") or []:
        if isinstance(found, dict):
            low, high = found.get("low"), found.get("high")
            return (
                _number(low.get("value")) if isinstance(low, dict) else None,
                _number(high.get("value")) if isinstance(high, dict) else None,
            )
    return None, None


def _loinc(resource: dict[str, Any]) -> tuple[str, str]:
    code = resource.get("code")
    if not isinstance(code, dict):
        return "", ""
    for coding in code.get("coding") or []:
        if isinstance(coding, dict) and coding.get("system") == LOINC and coding.get("code"):
            name = coding.get("display") or code.get("text") or coding["code"]
            return str(coding["code"]), str(name)
    return "", ""


def lab_trends(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Numeric lab values (Observation.valueQuantity with a LOINC code) by code, each
    series oldest first; the codes with the most values first."""
    series: dict[str, dict[str, Any]] = {}
    for resource in resources:
        quantity = resource.get("valueQuantity")
        if resource.get("resourceType") != "Observation" or not isinstance(quantity, dict):
            continue
        code, name = _loinc(resource)
        value = _number(quantity.get("value"))
        line = describe(resource)
        if not code or value is None or not line["date"]:
            continue
        unit = str(quantity.get("unit") or quantity.get("code") or "")
        found = series.setdefault(code, {"code": code, "name": name, "unit": unit, "points": []})
        low, high = _range(resource)
        found["points"].append(
            {
                "date": line["date"],
                "value": value,
                "unit": unit,
                "low": low,
                "high": high,
                "hospital": line["hospital"],
            }
        )
    for found in series.values():
        found["points"].sort(key=lambda p: p["date"])
    return sorted(series.values(), key=lambda s: (-len(s["points"]), s["name"]))


def encounter(resource: dict[str, Any]) -> dict[str, str]:
    line = describe(resource)
    kind = resource.get("class")
    kind_text = ""
    if isinstance(kind, dict):
        kind_text = str(kind.get("display") or kind.get("code") or "")
    return {
        "date": line["date"],
        "type": ", ".join(_texts(resource.get("type"))),
        "class": kind_text,
        "code": str(kind.get("code") or "") if isinstance(kind, dict) else "",
        "hospital": line["hospital"],
    }


def record_views(bundle: dict[str, Any]) -> dict[str, Any]:
    """What the record screen shows besides its tables."""
    resources = records(bundle)
    by_type = Counter(str(r.get("resourceType")) for r in resources)
    by_hospital = Counter(_hospital(r) or "?" for r in resources)
    visits = [encounter(r) for r in resources if r.get("resourceType") == "Encounter"]
    return {
        "allergies": [
            allergy(r) for r in resources if r.get("resourceType") == "AllergyIntolerance"
        ],
        "labs": lab_trends(resources),
        "by_type": [{"type": k, "n": n} for k, n in by_type.most_common()],
        "by_hospital": [{"hospital": k, "n": n} for k, n in sorted(by_hospital.items())],
        "visits": sorted(visits, key=lambda v: v["date"], reverse=True),
        "limits": limits(bundle),
    }
