"""What the physician's screens show, from the query service's FHIR answers — pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LANGUAGES = ("th", "en")  # Thai first: the product's primary language
HOSPITAL_SOURCE = "urn:healthlink:hospital:"
# The order the record is shown in: allergies first (the FAQ's first benefit).
TYPE_ORDER = (
    "AllergyIntolerance",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "MedicationDispense",
    "Immunization",
    "Procedure",
    "Observation",
    "DiagnosticReport",
    "Encounter",
)
# The query service's reasons for a refusal, as codes the page translates; anything
# else is shown as the service wrote it.
REFUSALS = {
    "patient has not consented": "no-consent",
    "no live per-visit consent for this hospital": "no-visit-consent",
    "licence is not active in the registry": "licence-inactive",
    "hospital is not participating": "hospital-not-participating",
    "physician is not on the hospital's roster": "not-on-roster",
}


@dataclass(frozen=True)
class Session:
    """A signed-in physician: the SMART access token (and the refresh token that renews
    it) stay here, on the server. ``expires_at`` ends the session, ``token_expires_at``
    the access token (renewed before a read when a refresh token is held)."""

    token: str
    licence: str
    hospital: str
    csrf: str
    expires_at: float
    refresh_token: str | None = None
    token_expires_at: float = float("inf")


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in sent to the auth service and not back yet: its ``state`` and PKCE
    verifier stay on the server, behind the ``hl_signin`` cookie."""

    state: str
    verifier: str
    expires_at: float


def language_of(cookie: str | None, accept_language: str | None) -> str:
    """The chosen language (cookie), else the best of Accept-Language, else Thai."""
    if cookie in LANGUAGES:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for place, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, place, primary))
    return min(ranked)[2] if ranked else LANGUAGES[0]


def refusal_code(reason: str) -> str:
    return REFUSALS.get(reason, "other")


def _text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return ""


def _first(resource: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value: Any = resource
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            return value
    return ""


def _quantity(resource: dict[str, Any]) -> str:
    q = resource.get("valueQuantity")
    if isinstance(q, dict) and "value" in q:
        return f"{q['value']} {q.get('unit') or q.get('code') or ''}".strip()
    return _first(resource, "valueString") or _text(resource.get("valueCodeableConcept"))


def describe(resource: dict[str, Any]) -> dict[str, str]:
    """One line of the record: what, when, its value or status, and the source hospital."""
    kind = str(resource.get("resourceType", ""))
    what, value = "", ""
    if kind == "Encounter":
        types = resource.get("type") or [{}]
        what = _text(types[0]) or _text(resource.get("class")) or _first(resource, "class.display")
        date = _first(resource, "period.start")
    elif kind.startswith("Medication"):
        what = _text(resource.get("medicationCodeableConcept")) or _first(
            resource, "medicationReference.display"
        )
        date = _first(
            resource, "effectiveDateTime", "effectivePeriod.start", "authoredOn", "whenHandedOver"
        )
    elif kind == "Immunization":
        what = _text(resource.get("vaccineCode"))
        date = _first(resource, "occurrenceDateTime")
    else:
        what = _text(resource.get("code"))
        date = _first(
            resource,
            "effectiveDateTime",
            "effectivePeriod.start",
            "onsetDateTime",
            "performedDateTime",
            "performedPeriod.start",
            "recordedDate",
            "issued",
        )
        value = _quantity(resource) if kind == "Observation" else ""
        if kind == "DiagnosticReport":
            value = _first(resource, "conclusion")
        if kind == "AllergyIntolerance":
            value = _first(resource, "criticality")
    source = _first(resource, "meta.source")
    return {
        "id": str(resource.get("id", "")),
        "what": what,
        "date": date,
        "value": value,
        "status": _first(resource, "status") or _text(resource.get("clinicalStatus")),
        "hospital": source.removeprefix(HOSPITAL_SOURCE) if source else "",
    }


def records(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The clinical resources of a searchset: not the Patient resources (the CID is the
    header) nor the OperationOutcome entry (search mode ``outcome``: ignored parameters,
    the read's limits, ``viewer_views.limits``)."""
    found = []
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue
        if resource.get("resourceType") not in ("Patient", "OperationOutcome"):
            found.append(resource)
    return found


def group_record(bundle: dict[str, Any]) -> dict[str, Any]:
    """The $everything Bundle grouped by resource type (known types in TYPE_ORDER first),
    each group latest first; the Patient resources are left out (the CID is the header)."""
    groups: dict[str, list[dict[str, str]]] = {}
    for resource in records(bundle):
        groups.setdefault(str(resource.get("resourceType")), []).append(describe(resource))
    order = {kind: place for place, kind in enumerate(TYPE_ORDER)}
    kinds = sorted(groups, key=lambda k: (order.get(k, len(order)), k))
    return {
        "total": sum(len(v) for v in groups.values()),
        "more": any(link.get("relation") == "next" for link in bundle.get("link") or []),
        "groups": [
            {"type": k, "entries": sorted(groups[k], key=lambda e: e["date"], reverse=True)}
            for k in kinds
        ],
    }
