"""The query service's FHIR R4 CapabilityStatement (``GET /fhir/metadata``): every type
it reads and searches with their parameters, ``_include``s and ``_revinclude``s,
``$everything``, and
SMART's security extension naming the auth service's endpoints."""

from __future__ import annotations

from typing import Any

from services.query.fhirparams import TYPE_INCLUDES, TYPE_PARAMS, TYPE_REVINCLUDES
from services.query.search import EVERYTHING_PARAMS, READ_TYPES, SEARCH_TYPES
from shared.cid import CID_SYSTEM
from shared.fhir import FHIR_JSON

SMART_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
_COMMON_SEARCH = [
    ("patient", "reference", "The patient (Patient/<cid> or the CID); required"),
    ("subject", "reference", "Same as patient (Patient/<cid>)"),
    ("date", "date", "The record's clinical date as ingest indexed it (eq lt le gt ge)"),
    ("category", "token", "category (or Encounter.class)"),
    ("code", "token", "code, vaccineCode, medicationCodeableConcept or type"),
    ("_id", "token", "resource ids, comma separated"),
    ("_lastUpdated", "date", "meta.lastUpdated (eq lt le gt ge)"),
    ("_sort", "string", "date or -date (default -date)"),
    ("_count", "number", "page size, 0-1000"),
    ("_offset", "number", "start of the page"),
    (
        "_summary",
        "token",
        "count, true (the summary elements), text, data or false; "
        "subsetted resources are tagged SUBSETTED",
    ),
    (
        "_elements",
        "string",
        "top-level elements to return (plus id, meta and mandatory "
        "ones); unknown names are ignored; tagged SUBSETTED",
    ),
    ("_total", "token", "none, estimate or accurate"),
]
_DEFINITIONS = {
    "_id": "http://hl7.org/fhir/SearchParameter/Resource-id",
    "_lastUpdated": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
}


def _param(name: str, kind: str, doc: str) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "type": kind}
    if name in _DEFINITIONS:
        found["definition"] = _DEFINITIONS[name]
    if doc:
        found["documentation"] = doc
    return found


def _resource(rtype: str) -> dict[str, Any]:
    params = [_param(*p) for p in _COMMON_SEARCH]
    params += [_param(name, p.kind, p.doc) for name, p in TYPE_PARAMS.get(rtype, {}).items()]
    found: dict[str, Any] = {
        "type": rtype,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{rtype}",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": params,
    }
    includes = [f"{rtype}:{name}" for name in TYPE_INCLUDES.get(rtype, {})]
    if includes:
        found["searchInclude"] = includes
    if rtype in TYPE_REVINCLUDES:
        found["searchRevInclude"] = list(TYPE_REVINCLUDES[rtype])
    return found


def capability_statement(date: str, public_url: str, issuer: str) -> dict[str, Any]:
    """What this server supports (FHIR R4 CapabilityStatement), with SMART's security
    extension naming the auth service's endpoints."""
    base = f"{public_url}/fhir"
    resources: list[dict[str, Any]] = [
        {
            "type": "Patient",
            "profile": "http://hl7.org/fhir/StructureDefinition/Patient",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": "identifier", "type": "token",
                 "documentation": f"{CID_SYSTEM}|<cid> (the CID system only)"},
                _param("_id", "token", "the patient's CID"),
            ],
            "operation": [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                    "documentation": "Parameters: " + ", ".join(sorted(EVERYTHING_PARAMS)),
                },
                {
                    "name": "summary",
                    "definition": "http://hl7.org/fhir/uv/ips/OperationDefinition/summary",
                    "documentation": "International Patient Summary: a document Bundle of "
                    "what the reader may see",
                },
                {
                    "name": "export",
                    "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
                    "documentation": "The patient's own copy (their SMART token): "
                    "Prefer: respond-async; _type, _outputFormat=application/fhir+ndjson",
                },
            ],
        },
        *(_resource(rtype) for rtype in SEARCH_TYPES),
        *(
            {"type": rtype, "profile": f"http://hl7.org/fhir/StructureDefinition/{rtype}",
             "interaction": [{"code": "read"}]}
            for rtype in READ_TYPES
            if rtype not in SEARCH_TYPES and rtype != "Patient"
        ),
    ]  # fmt: skip
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "Health Link",
        "kind": "instance",
        "software": {"name": "Health Link query service", "version": "0.1.0"},
        "implementation": {"description": "Health Link FHIR R4 read API", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json", FHIR_JSON],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Physicians on a participating hospital's roster read consented records. "
                    "Every response says its source hospital in meta.source; every request "
                    "is audited. Unknown search parameters are ignored (listed in an "
                    "OperationOutcome entry) unless the request says Prefer: handling=strict."
                ),
                "security": {
                    "extension": [
                        {
                            "url": SMART_OAUTH_URIS,
                            "extension": [
                                {"url": "authorize", "valueUri": f"{issuer}/authorize"},
                                {"url": "token", "valueUri": f"{issuer}/token"},
                            ],
                        }
                    ],
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ],
                            "text": "OAuth2 using SMART-on-FHIR profile",
                        }
                    ],
                    "description": (
                        "Bearer tokens: SMART on FHIR from the authorization server "
                        f"({issuer}); physicians' sign-in tokens (POST /auth/token) too."
                    ),
                },
                "resource": resources,
            }
        ],
    }
