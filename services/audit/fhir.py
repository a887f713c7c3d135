"""Audit records as FHIR R4 ``AuditEvent`` resources, shaped after IHE BALP.

IHE Basic Audit Log Patterns: https://profiles.ihe.net/ITI/BALP/ . Code systems:
- event types: https://hl7.org/fhir/R4/valueset-audit-event-type.html (``rest``) and
  DICOM CID 400 "Audit Event ID" (http://dicom.nema.org/resources/ontology/DCM);
- outcome: https://hl7.org/fhir/R4/valueset-audit-event-outcome.html (0 / 4 / 8);
- purpose of use: http://terminology.hl7.org/CodeSystem/v3-ActReason (TREAT, ETREAT, BTG);
- agent types: DICOM 110153 Source / 110152 Destination, ``humanuser``;
- entity: audit-entity-type 1 Person + object-role 1 Patient (BALP "patient" slice).
One builder, ``audit_event(record)``, for every kind of record.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.audit.sources import SET_ASIDE
from shared.cid import CID_SYSTEM, HCODE_SYSTEM
from shared.events import (
    BreakGlassDeclared,
    PatientRegistered,
    PhysicianAdded,
    PhysicianLockedOut,
    PhysicianRemoved,
    PhysicianSignedIn,
    RecordAccessed,
    SignInFailed,
)

DCM = "http://dicom.nema.org/resources/ontology/DCM"
AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SECURITY_ROLE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
LICENCE_SYSTEM = "https://www.tmc.or.th/licence"
EVENT_SYSTEM = "urn:healthlink:event"

REST = {"system": AUDIT_TYPE, "code": "rest", "display": "Restful Operation"}
OPERATION = {"system": RESTFUL, "code": "operation", "display": "operation"}
UPDATE = {"system": RESTFUL, "code": "update", "display": "update"}
CREATE = {"system": RESTFUL, "code": "create", "display": "create"}
USER_AUTH = {"system": DCM, "code": "110114", "display": "User Authentication"}
LOGIN = {"system": DCM, "code": "110122", "display": "Login"}
ROLES_CHANGED = {"system": DCM, "code": "110136", "display": "Security Roles Changed"}
SECURITY_ALERT = {"system": DCM, "code": "110113", "display": "Security Alert"}
EMERGENCY_OVERRIDE = {"system": DCM, "code": "110127", "display": "Emergency Override Started"}
IMPORT = {"system": DCM, "code": "110107", "display": "Import"}
SOURCE_ROLE = {"system": DCM, "code": "110153", "display": "Source Role ID"}
DESTINATION_ROLE = {"system": DCM, "code": "110152", "display": "Destination Role ID"}
HUMAN_USER = {"system": SECURITY_ROLE, "code": "humanuser", "display": "human user"}
TREAT = {"system": ACT_REASON, "code": "TREAT", "display": "treatment"}
ETREAT = {"system": ACT_REASON, "code": "ETREAT", "display": "Emergency Treatment"}
BTG = {"system": ACT_REASON, "code": "BTG", "display": "break the glass"}
PATRQT = {"system": ACT_REASON, "code": "PATRQT", "display": "patient requested"}
PERSON = {"system": ENTITY_TYPE, "code": "1", "display": "Person"}
SYSTEM_OBJECT = {"system": ENTITY_TYPE, "code": "2", "display": "System Object"}
PATIENT_ROLE = {"system": OBJECT_ROLE, "code": "1", "display": "Patient"}
APP_SERVER = {"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}

SUCCESS, MINOR_FAILURE, SERIOUS_FAILURE = "0", "4", "8"

# record type -> (AuditEvent.type, subtype, action)
SHAPES: dict[str, tuple[dict[str, str], dict[str, str] | None, str]] = {
    RecordAccessed.NAME: (REST, OPERATION, "E"),
    PhysicianSignedIn.NAME: (USER_AUTH, LOGIN, "E"),
    SignInFailed.NAME: (USER_AUTH, LOGIN, "E"),
    PhysicianLockedOut.NAME: (USER_AUTH, LOGIN, "E"),
    PhysicianAdded.NAME: (ROLES_CHANGED, None, "C"),
    PhysicianRemoved.NAME: (ROLES_CHANGED, None, "D"),
    BreakGlassDeclared.NAME: (SECURITY_ALERT, EMERGENCY_OVERRIDE, "E"),
    PatientRegistered.NAME: (REST, CREATE, "C"),
    SET_ASIDE: (IMPORT, None, "C"),
}
FAILED_TYPES = {SignInFailed.NAME: MINOR_FAILURE, PhysicianLockedOut.NAME: SERIOUS_FAILURE}


def _cc(*codings: dict[str, str]) -> dict[str, Any]:
    return {"coding": list(codings)}


def _outcome(record: dict[str, Any]) -> tuple[str, str | None]:
    kind, data = record.get("kind"), _data(record)
    if kind == "deadletter":
        return SERIOUS_FAILURE, str(record["body"].get("reason") or "set aside")
    if record.get("type") in FAILED_TYPES:
        return FAILED_TYPES[str(record["type"])], str(data.get("reason") or record["type"])
    if record.get("decision") == "deny":
        return MINOR_FAILURE, str(data.get("reason") or "denied")
    return SUCCESS, None


def _data(record: dict[str, Any]) -> dict[str, Any]:
    data = record["body"].get("data")
    return data if isinstance(data, dict) else {}


def _agents(record: dict[str, Any]) -> list[dict[str, Any]]:
    data, agents = _data(record), []
    purpose = [_cc(ETREAT), _cc(BTG)] if record.get("break_glass") else [_cc(TREAT)]
    if record.get("physician"):
        user: dict[str, Any] = {
            "type": _cc(HUMAN_USER),
            "who": {
                "identifier": {"system": LICENCE_SYSTEM, "value": record["physician"]},
                "display": data.get("physician_name") or record["physician"],
            },
            "requestor": True,
        }
        if record.get("kind") == "access":
            user["purposeOfUse"] = purpose
        agents.append(user)
    elif data.get("purpose") == PATRQT["code"] and record.get("patient"):
        agents.append(  # the patient read their own record
            {
                "type": _cc(HUMAN_USER),
                "who": {"identifier": {"system": CID_SYSTEM, "value": record["patient"]}},
                "requestor": True,
                "purposeOfUse": [_cc(PATRQT)],
            }
        )
    if record.get("hospital"):
        agents.append(
            {
                "type": _cc(SOURCE_ROLE),
                "who": {"identifier": {"system": HCODE_SYSTEM, "value": record["hospital"]}},
                "requestor": not record.get("physician"),
            }
        )
    agents.append(
        {
            "type": _cc(DESTINATION_ROLE),
            "who": {"display": "Health Link"},
            "requestor": not agents,
        }
    )
    return agents


def _entities(record: dict[str, Any]) -> list[dict[str, Any]]:
    data, entities = _data(record), []
    if record.get("patient"):
        patient: dict[str, Any] = {
            "what": {"identifier": {"system": CID_SYSTEM, "value": record["patient"]}},
            "type": PERSON,
            "role": PATIENT_ROLE,
        }
        if data.get("categories"):
            patient["detail"] = [
                {"type": "categories", "valueString": ",".join(data["categories"])}
            ]
        entities.append(patient)
    entities.append(
        {
            "what": {"identifier": {"system": EVENT_SYSTEM, "value": record["event_id"]}},
            "type": SYSTEM_OBJECT,
            "detail": [
                {"type": "chain", "valueString": f"{record['chain']}#{record['seq']}"},
                {"type": "hash", "valueString": record["hash"]},
            ],
        }
    )
    return entities


def audit_event(record: dict[str, Any]) -> dict[str, Any]:
    """A stored audit record as an R4 AuditEvent (BALP shape)."""
    kind = str(record.get("kind"))
    shape = SHAPES.get(str(record.get("type")))
    if shape is None:  # consent and hospital changes: an update of that resource
        shape = (REST, UPDATE, "U")
    type_, subtype, action = shape
    outcome, description = _outcome(record)
    time = record.get("time")
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"{record['chain']}-{record['seq']}".replace(".", "-"),
        "type": type_,
        "action": action,
        "recorded": time.isoformat() if isinstance(time, datetime) else str(time),
        "outcome": outcome,
        "agent": _agents(record),
        "source": {
            "observer": {"display": f"Health Link {kind} ({record['chain']})"},
            "type": [APP_SERVER],
        },
        "entity": _entities(record),
    }
    if subtype is not None:
        event["subtype"] = [subtype]
    if description:
        event["outcomeDesc"] = description
    if kind == "access":
        event["purposeOfEvent"] = (
            [_cc(ETREAT), _cc(BTG)] if record.get("break_glass") else [_cc(TREAT)]
        )
    return event


def bundle(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A searchset Bundle of AuditEvents. They are not served by id, so each entry's
    ``fullUrl`` is a ``urn:uuid:`` derived from its id (the same on every export)."""
    found: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(records)}
    entries = [_entry(audit_event(r)) for r in records]
    if entries:  # an empty array is invalid FHIR: no entries, no key
        found["entry"] = entries
    return found


def _entry(event: dict[str, Any]) -> dict[str, Any]:
    full_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'healthlink:audit:' + event['id'])}"
    return {"fullUrl": full_url, "resource": event, "search": {"mode": "match"}}
