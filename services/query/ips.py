"""``Patient/{cid}/$summary``: an International Patient Summary document.

A FHIR R4 ``document`` Bundle (HL7 IPS, ``http://hl7.org/fhir/uv/ips``): a Composition
(LOINC 60591-5, "Patient summary Document") with the IPS sections — allergies and
intolerances, problems, medications (required: an empty one says so with an
``emptyReason``), immunizations, results, procedures — then the patient as Health Link
knows them and every resource the sections list, plus the visible resources those
reference (source Patients, Encounters, Practitioners, Organizations, Medications), so
the document stands on its own. What it holds is exactly what the access decision
allows the reader (consent, sensitive data, break-glass, SMART scopes): the emergency
view on consent-gated data. Built in ``reads.summary_document``.

The document follows the IPS structure (sections, codes, empty reasons) and validates
as an R4 document Bundle with HAPI's validator; it does not claim the IPS profile in
``meta.profile``, because the IPS package (packages.fhir.org) cannot be fetched to
check it here, and a claim no test checks would be a guess.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from services.query.charts import Entry

LOINC = "http://loinc.org"
EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
SUMMARY_TYPE = {
    "system": "http://loinc.org",
    "code": "60591-5",
    "display": "Patient summary Document",
}
_REFERENCE = re.compile(r'"reference"\s*:\s*"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})"')

# (LOINC code, title, resource types, required by IPS)
SECTIONS: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("48765-2", "Allergies and intolerances", ("AllergyIntolerance",), True),
    ("11450-4", "Problem list", ("Condition",), True),
    ("10160-0", "Medication summary",
     ("MedicationStatement", "MedicationRequest", "MedicationDispense"), True),
    ("11369-6", "History of immunizations", ("Immunization",), False),
    ("30954-2", "Relevant diagnostic tests/laboratory data",
     ("Observation", "DiagnosticReport"), False),
    ("47519-4", "History of procedures", ("Procedure",), False),
)  # fmt: skip


def _key(entry: Entry) -> str:
    return f"{entry['type']}/{entry['id']}"


def _narrative(text: str) -> dict[str, str]:
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{safe}</div>'}


def _section(
    code: str, title: str, members: list[Entry], required: bool, url: dict[str, str]
) -> dict[str, Any] | None:
    if not members and not required:
        return None
    section: dict[str, Any] = {
        "title": title,
        "code": {"coding": [{"system": LOINC, "code": code, "display": title}]},
    }
    if members:
        section["text"] = _narrative(f"{title}: {len(members)} entries")
        section["entry"] = [{"reference": url[_key(e)]} for e in members]
    else:
        section["text"] = _narrative(f"{title}: no information available")
        section["emptyReason"] = {
            "coding": [{"system": EMPTY_REASON, "code": "unavailable", "display": "Unavailable"}]
        }
    return section


def referenced(members: list[Entry], pool: dict[str, Entry]) -> list[Entry]:
    """The visible resources ``members`` reference, transitively (one document)."""
    found: dict[str, Entry] = {}
    todo = list(members)
    while todo:
        entry = todo.pop()
        for rtype, rid in _REFERENCE.findall(str(entry["json"])):
            key = f"{rtype}/{rid}"
            if key in pool and key not in found:
                found[key] = pool[key]
                todo.append(pool[key])
    return list(found.values())


def document(patient: Entry, seen: list[Entry], base: str) -> tuple[bytes, list[Entry]]:
    """The IPS document Bundle and the records it shows (for the access event)."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    chosen = {t for _, _, types, _ in SECTIONS for t in types}
    members = [e for e in seen if e["type"] in chosen]
    pool = {_key(e): e for e in seen}
    patient_url = f"{base}/Patient/{patient['id']}"
    listed = {_key(e) for e in members} | {f"Patient/{patient['id']}"}
    extra = [e for e in referenced([*members, patient], pool) if _key(e) not in listed]
    shown = [*members, *extra]
    url = {_key(e): f"{base}/{_key(e)}" for e in shown}
    sections = [
        _section(code, title, [e for e in members if e["type"] in types], required, url)
        for code, title, types, required in SECTIONS
    ]
    composition = {
        "resourceType": "Composition",
        "id": str(uuid.uuid4()),
        "status": "final",
        "type": {"coding": [SUMMARY_TYPE]},
        "subject": {"reference": patient_url},
        "date": now,
        "author": [{"display": "Health Link (records as the source hospitals sent them)"}],
        "title": "International Patient Summary",
        "confidentiality": "N",
        "section": [s for s in sections if s is not None],
    }
    head = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "document",
        "timestamp": now,
    }
    parts = [
        json.dumps({"fullUrl": f"urn:uuid:{composition['id']}", "resource": composition}),
        f'{{"fullUrl":"{patient_url}","resource":{patient["json"]}}}',
        *(f'{{"fullUrl":"{url[_key(e)]}","resource":{e["json"]}}}' for e in shown),
    ]
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
    return f'{text[:-1]},"entry":[{",".join(parts)}]}}'.encode(), shown
