"""FHIR shapes the query API returns: searchset Bundles, the CapabilityStatement, the summary.

A Bundle is joined from the entries' pre-serialised JSON: the stored resources are
served as sent (plus ``meta.source``), never re-validated or re-encoded.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from services.query.charts import Entry
from services.query.search import EVERYTHING_PARAMS, SEARCH_TYPES, Criteria
from shared.fhir import FHIR_JSON

SUMMARY_ITEMS = 5


def searchset(
    page: list[Entry], total: int, criteria: Criteria, link: Callable[[int], str]
) -> bytes:
    """A searchset Bundle of one page, with self / next / previous links."""
    links = [{"relation": "self", "url": link(criteria.offset)}]
    step = max(criteria.count, 1)
    if criteria.count and criteria.offset + criteria.count < total:
        links.append({"relation": "next", "url": link(criteria.offset + criteria.count)})
    if criteria.offset > 0:
        links.append({"relation": "previous", "url": link(max(criteria.offset - step, 0))})
    head = json.dumps(
        {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    entries = ",".join(
        f'{{"fullUrl":"{e["type"]}/{e["id"]}","resource":{e["json"]},"search":{{"mode":"match"}}}}'
        for e in page
    )
    return f'{head[:-1]},"entry":[{entries}]}}'.encode()


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


def capability_statement(date: str) -> dict[str, Any]:
    """What this server supports (FHIR R4 CapabilityStatement)."""
    search_params = [
        {"name": "patient", "type": "reference"},
        {"name": "date", "type": "date"},
        {"name": "category", "type": "token"},
        {"name": "code", "type": "token"},
        {"name": "_sort", "type": "string"},
        {"name": "_count", "type": "number"},
        {"name": "_offset", "type": "number"},
    ]
    resources: list[dict[str, Any]] = [
        {
            "type": rtype,
            "interaction": [{"code": "search-type"}],
            "searchParam": search_params,
        }
        for rtype in SEARCH_TYPES
    ]
    resources.insert(
        0,
        {
            "type": "Patient",
            "operation": [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                    "documentation": "Parameters: " + ", ".join(sorted(EVERYTHING_PARAMS)),
                }
            ],
        },
    )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": "Health Link query service", "version": "0.1.0"},
        "fhirVersion": "4.0.1",
        "format": [FHIR_JSON],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Physicians on a participating hospital's roster read consented records. "
                    "Every response says its source hospital in meta.source; every request "
                    "is audited."
                ),
                "security": {
                    "description": "Bearer token from POST /auth/token (licence number + PIN)."
                },
                "resource": resources,
            }
        ],
    }
