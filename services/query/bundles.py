"""FHIR shapes the query API returns: searchset Bundles, the CapabilityStatement, the summary.

A Bundle is joined from the entries' pre-serialised JSON: the stored resources are
served as sent (plus ``meta.source``), never re-validated or re-encoded.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.query.charts import Entry
from services.query.fhirparams import TYPE_INCLUDES, TYPE_PARAMS
from services.query.search import (
    EVERYTHING_PARAMS,
    READ_TYPES,
    SEARCH_TYPES,
    Criteria,
)
from shared.cid import CID_SYSTEM
from shared.fhir import FHIR_JSON

SUMMARY_ITEMS = 5


def searchset(
    page: list[Entry],
    total: int,
    criteria: Criteria,
    link: Callable[[int], str],
    base: str,
    included: list[Entry] | None = None,
) -> bytes:
    """A searchset Bundle of one page: absolute ``fullUrl``s on ``base`` (the FHIR base),
    ``self`` / ``next`` / ``previous`` links, search modes, and, when parameters were
    ignored, an OperationOutcome entry naming them (search mode ``outcome``)."""
    links = [{"relation": "self", "url": link(criteria.offset)}]
    step = max(criteria.count, 1)
    if not criteria.summary_count:
        if criteria.count and criteria.offset + criteria.count < total:
            links.append({"relation": "next", "url": link(criteria.offset + criteria.count)})
        if criteria.offset > 0:
            links.append({"relation": "previous", "url": link(max(criteria.offset - step, 0))})
    head: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": _now()},
        "type": "searchset",
    }
    if criteria.total or criteria.summary_count:
        head["total"] = total
    head["link"] = links
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
    parts = [] if criteria.summary_count else [_entry(base, e, "match") for e in page]
    parts += [_entry(base, e, "include") for e in included or []]
    if criteria.ignored:
        outcome = json.dumps(ignored_outcome(criteria.ignored), separators=(",", ":"))
        parts.append(
            f'{{"fullUrl":"urn:uuid:{uuid.uuid4()}","resource":{outcome},'
            '"search":{"mode":"outcome"}}'
        )
    if not parts:
        return text.encode()
    return f'{text[:-1]},"entry":[{",".join(parts)}]}}'.encode()


def _entry(base: str, e: Entry, mode: str) -> str:
    return (
        f'{{"fullUrl":"{base}/{e["type"]}/{e["id"]}","resource":{e["json"]},'
        f'"search":{{"mode":"{mode}"}}}}'
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ignored_outcome(names: list[str]) -> dict[str, Any]:
    """The parameters a lenient search ignored, as an OperationOutcome (warning)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "warning",
                "code": "not-supported",
                "diagnostics": f"search parameter ignored (not supported): {name}",
            }
            for name in names
        ],
    }


def summary(cid: str, entries: list[Entry]) -> dict[str, Any]:
    """Per data category and per source hospital, latest first, with counts."""
    clinical = [e for e in entries if e.get("category")]
    by_category: dict[str, list[Entry]] = {}
    by_source: dict[str, list[Entry]] = {}
    for e in clinical:  # entries arrive newest first
        by_category.setdefault(e["category"], []).append(e)
        by_source.setdefault(e["hospital"], []).append(e)
    return {
        "patient": cid,
        "total": len(clinical),
        "categories": [
            {
                "category": name,
                "count": len(group),
                "latest": group[0]["date"],
                "sources": dict(Counter(e["hospital"] for e in group)),
                "items": [_item(e) for e in group[:SUMMARY_ITEMS]],
            }
            for name, group in _latest_first(by_category)
        ],
        "sources": [
            {
                "hospital": code,
                "count": len(group),
                "latest": group[0]["date"],
                "categories": dict(Counter(e["category"] for e in group)),
            }
            for code, group in _latest_first(by_source)
        ],
    }


def _latest_first(groups: dict[str, list[Entry]]) -> list[tuple[str, list[Entry]]]:
    return sorted(groups.items(), key=lambda kv: (kv[1][0]["t"] or 0.0, kv[0]), reverse=True)


def _item(e: Entry) -> dict[str, Any]:
    return {
        "reference": f"{e['type']}/{e['id']}",
        "date": e["date"],
        "display": e["display"],
        "hospital": e["hospital"],
        "sensitive": e["sensitive"],
    }


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
    ("_summary", "token", "count or false"),
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


SMART_SCOPES = ["openid", "fhirUser", "launch/patient", "offline_access", "online_access",
                "patient/*.rs", "user/*.rs", "system/*.rs"]  # fmt: skip
SMART_CAPABILITIES = [
    "launch-standalone", "client-public", "client-confidential-asymmetric",
    "context-standalone-patient", "permission-offline", "permission-online",
    "permission-patient", "permission-user", "permission-v1", "permission-v2",
    "sso-openid-connect",
]  # fmt: skip


def smart_configuration(issuer: str) -> dict[str, Any]:
    """SMART App Launch discovery, as the auth service (the issuer) publishes it."""
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "ES384", "RS256", "RS384"],
        "response_types_supported": ["code"],
        "scopes_supported": SMART_SCOPES,
        "code_challenge_methods_supported": ["S256"],
        "capabilities": SMART_CAPABILITIES,
    }


def patient_entry(cid: str, sources: list[Entry]) -> Entry:
    """The patient as Health Link knows them: ``Patient/<cid>`` with the CID identifier,
    name, gender and birth date from the newest visible source Patient resource, and a
    ``seealso`` link to each source's Patient resource."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": cid,
        "identifier": [{"system": CID_SYSTEM, "value": cid}],
    }
    if sources:
        newest = max(sources, key=lambda e: e.get("updated") or 0.0)
        found = json.loads(newest["json"])
        for name in ("active", "name", "telecom", "gender", "birthDate", "deceasedBoolean",
                     "deceasedDateTime", "address"):  # fmt: skip
            if name in found:
                resource[name] = found[name]
        resource["link"] = [
            {"other": {"reference": f"Patient/{e['id']}"}, "type": "seealso"}
            for e in sources
            if e["id"] != cid
        ] or None
        if resource["link"] is None:
            del resource["link"]
    return {
        "type": "Patient",
        "id": cid,
        "hospital": "",
        "category": None,
        "sensitive": False,
        "t": None,
        "updated": None,
        "json": json.dumps(resource, ensure_ascii=False, separators=(",", ":")),
    }
