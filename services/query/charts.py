"""A chart: one patient's records from one source hospital, ready to serve (pure).

Each entry keeps what searching needs (type, category, dates, code tokens) and the
resource already serialised, with the source hospital stamped on it, so the read
path never re-parses or re-validates FHIR: it filters entries and joins strings.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from services.query.dates import instant_or_none
from shared.cid import HCODE_SYSTEM

SOURCE_PREFIX = "urn:healthlink:hospital:"
Entry = dict[str, Any]

# Where each type keeps its code and its category (FHIR R4 search parameters).
_CODE_FIELDS = ("code", "vaccineCode", "medicationCodeableConcept", "type")
_CATEGORY_FIELDS = ("category", "class")


def with_source(resource: dict[str, Any], hospital: str) -> dict[str, Any]:
    """The stored resource, marked with the hospital that sent it."""
    marked: dict[str, Any] = copy.copy(resource)
    meta = dict(marked.get("meta") or {})
    meta["source"] = SOURCE_PREFIX + hospital
    meta["tag"] = [*meta.get("tag", []), {"system": HCODE_SYSTEM, "code": hospital}]
    marked["meta"] = meta
    return marked


def tokens_of(value: Any) -> list[str]:
    """``system|code`` tokens of a CodeableConcept, Coding, code string or a list of them."""
    if isinstance(value, list):
        return [token for item in value for token in tokens_of(item)]
    if isinstance(value, str):
        return [f"|{value}"]
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        return tokens_of(value["coding"])
    code = value.get("code")
    return [f"{value.get('system') or ''}|{code}"] if isinstance(code, str) else []


def display_of(resource: dict[str, Any]) -> str | None:
    """A short human label: the code's text or first display."""
    for name in _CODE_FIELDS:
        concept = resource.get(name)
        if isinstance(concept, list):
            concept = concept[0] if concept else None
        if isinstance(concept, dict):
            if isinstance(concept.get("text"), str):
                return str(concept["text"])
            for coding in concept.get("coding") or []:
                if isinstance(coding, dict) and isinstance(coding.get("display"), str):
                    return str(coding["display"])
    return None


def entry_of(doc: dict[str, Any]) -> Entry:
    """A stored ingest record as a chart entry."""
    resource: dict[str, Any] = json.loads(doc["resource_json"])
    meta = resource.get("meta") or {}
    codes = [t for name in _CODE_FIELDS for t in tokens_of(resource.get(name))]
    cats = [t for name in _CATEGORY_FIELDS for t in tokens_of(resource.get(name))]
    received = doc.get("received_at")
    return {
        "id": doc["resource_id"],
        "type": doc["type"],
        "hospital": doc["hospital"],
        "category": doc.get("category"),
        "sensitive": bool(doc.get("sensitive")),
        "date": doc.get("date"),
        "t": instant_or_none(doc.get("date")),
        "updated": instant_or_none(meta.get("lastUpdated"))
        or (received.timestamp() if received is not None else None),
        "codes": codes,
        "cats": cats,
        "display": display_of(resource),
        "json": json.dumps(
            with_source(resource, doc["hospital"]), ensure_ascii=False, separators=(",", ":")
        ),
    }


def newest_first(entries: list[Entry]) -> list[Entry]:
    """Dated entries newest first, then undated ones (stable by type and id)."""
    ordered = sorted(entries, key=lambda e: (e["type"], e["id"]))
    return sorted(ordered, key=lambda e: (e["t"] is not None, e["t"] or 0.0), reverse=True)
