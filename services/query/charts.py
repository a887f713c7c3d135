"""A chart: one patient's records from one source hospital, ready to serve (pure).

Each entry keeps what searching needs (type, category, dates, code tokens) and the
resource already serialised, with the source hospital stamped on it, so the read
path never re-parses or re-validates FHIR: it filters entries and joins strings.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from services.query.dates import instant_or_none
from shared.cid import HCODE_SYSTEM
from shared.events import StoredRecord

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


def entry_of(record: StoredRecord, hospital: str) -> Entry:
    """A ``records.stored`` record (one stored resource) from ``hospital`` as a chart entry."""
    resource: dict[str, Any] = orjson.loads(record.resource_json)
    meta = resource.get("meta") or {}
    codes = [t for name in _CODE_FIELDS for t in tokens_of(resource.get(name))]
    cats = [t for name in _CATEGORY_FIELDS for t in tokens_of(resource.get(name))]
    return {
        "id": record.resource_id,
        "type": record.type,
        "hospital": hospital,
        "rank": record.rank,
        "category": record.category,
        "sensitive": record.sensitive,
        "date": record.date,
        "t": instant_or_none(record.date),
        "updated": instant_or_none(meta.get("lastUpdated")) or instant_or_none(record.received_at),
        "codes": codes,
        "cats": cats,
        "display": display_of(resource),
        "json": orjson.dumps(with_source(resource, hospital)).decode(),
    }


Ranks = dict[tuple[str, str], str]


def ranks_of(entries: list[Entry]) -> Ranks:
    """Each resource's rank in a chart."""
    return {(e["type"], e["id"]): str(e.get("rank") or "") for e in entries}


def landing(held: Ranks, incoming: list[Entry]) -> list[Entry]:
    """The ``incoming`` entries that change a chart holding ``held``: new resources or
    higher ranks (one per resource, the highest rank; the first of equals)."""
    fresh: dict[tuple[str, str], Entry] = {}
    for entry in incoming:
        key = (entry["type"], entry["id"])
        best = fresh[key]["rank"] if key in fresh else held.get(key)
        if best is None or best < entry["rank"]:
            fresh[key] = entry
    return list(fresh.values())


def combine(parts: list[list[Entry]]) -> list[Entry]:
    """One chart from its parts: per resource the highest-ranked entry, newest first."""
    merged: dict[tuple[str, str], Entry] = {}
    for part in parts:
        for entry in part:
            key = (entry["type"], entry["id"])
            held = merged.get(key)
            if held is None or str(held.get("rank") or "") < str(entry.get("rank") or ""):
                merged[key] = entry
    return newest_first(list(merged.values()))


def newest_first(entries: list[Entry]) -> list[Entry]:
    """Dated entries newest first, then undated ones (stable by type and id)."""
    ordered = sorted(entries, key=lambda e: (e["type"], e["id"]))
    return sorted(ordered, key=lambda e: (e["t"] is not None, e["t"] or 0.0), reverse=True)
