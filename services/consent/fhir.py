"""Consents as FHIR R4 ``Consent`` resources (read-only views of the consent state).

One resource for the standing consent (``<cid>-standing``) and one per per-visit
consent (``<cid>-visit-<id>``). Hospitals are referenced by identifier in the
MOPH hospital-code system; a source hospital is the custodian (``CST``), the
requesting hospital of a per-visit consent the information recipient (``IRCP``).
"All hospitals" is a permit without actors: it names no hospital because it
covers every provider, including those that join later. When sensitive data is
not allowed, a nested ``deny`` provision names the sensitivity labels.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.consent.domain import ConsentState, PerVisitConsent
from shared.fhir import CID_SYSTEM, HCODE_SYSTEM

SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _actor(role: str, code: str) -> dict[str, Any]:
    return {
        "role": _coding(PARTICIPATION, role),
        "reference": {
            "identifier": {"system": HCODE_SYSTEM, "value": code},
            "display": f"hospital {code}",
        },
    }


def _sensitive_deny() -> dict[str, Any]:
    return {
        "type": "deny",
        "securityLabel": [
            {"system": CONFIDENTIALITY, "code": "R"},
            {"system": CONFIDENTIALITY, "code": "V"},
            {"system": ACT_CODE, "code": "HIV"},
            {"system": ACT_CODE, "code": "PSY"},
            {"system": ACT_CODE, "code": "SDV"},
        ],
    }


def _base(resource_id: str, cid: str, version: int, active: bool) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": resource_id,
        "meta": {"versionId": str(version)},
        "status": "active" if active else "inactive",
        "scope": _coding(SCOPE, "patient-privacy", "Privacy Consent"),
        "category": [_coding(LOINC, "59284-0", "Patient Consent")],
        "patient": {"identifier": {"system": CID_SYSTEM, "value": cid}},
        "policyRule": _coding(ACT_CODE, "OPTIN"),
    }


def standing_consent(cid: str, version: int, state: ConsentState) -> dict[str, Any]:
    active = state.all_hospitals or bool(state.hospitals)
    provision: dict[str, Any] = {"type": "permit"}
    if not state.all_hospitals:
        provision["actor"] = [_actor("CST", code) for code in sorted(state.hospitals)]
    if not state.allow_sensitive:
        provision["provision"] = [_sensitive_deny()]
    return {**_base(f"{cid}-standing", cid, version, active), "provision": provision}


def visit_consent(
    cid: str, version: int, state: ConsentState, visit: PerVisitConsent, now: datetime
) -> dict[str, Any]:
    provision: dict[str, Any] = {
        "type": "permit",
        "period": {"end": visit.until.isoformat()},
        "actor": [
            _actor("IRCP", visit.requesting_hospital),
            *(_actor("CST", code) for code in sorted(visit.sources)),
        ],
    }
    if not state.allow_sensitive:
        provision["provision"] = [_sensitive_deny()]
    resource_id = f"{cid}-visit-{visit.id}"
    return {**_base(resource_id, cid, version, visit.live(now)), "provision": provision}


def consents(cid: str, version: int, state: ConsentState, now: datetime) -> list[dict[str, Any]]:
    """Every consent of this patient, standing first."""
    return [
        standing_consent(cid, version, state),
        *(visit_consent(cid, version, state, v, now) for v in state.per_visit),
    ]


def search_bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"Consent/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }
