"""Search criteria applied to a chart's entries, purely: which entries match, in what order.

The criteria come from ``search.py`` (parsed from FHIR R4 search parameters).
"""

from __future__ import annotations

from typing import Any

import orjson

from services.query.charts import Entry, tokens_of
from services.query.dates import instant_or_none
from services.query.fhirparams import Param, Path, references
from services.query.search import Criteria


def select(entries: list[Entry], criteria: Criteria) -> list[Entry]:
    """Matching entries in the requested order (dated first, newest first by default)."""
    found = [e for e in entries if matches(e, criteria)]
    if criteria.descending:
        return sorted(found, key=lambda e: (e["t"] is not None, e["t"] or 0.0), reverse=True)
    return sorted(found, key=lambda e: (e["t"] is None, e["t"] or 0.0))


def matches(entry: Entry, criteria: Criteria) -> bool:
    if criteria.types is not None and entry["type"] not in criteria.types:
        return False
    if criteria.ids is not None and entry["id"] not in criteria.ids:
        return False
    if criteria.since is not None and (entry["updated"] or 0.0) < criteria.since:
        return False
    if criteria.dates and not all(_date_ok(entry["t"], b) for b in criteria.dates):
        return False
    if criteria.updated and not all(_date_ok(entry["updated"], b) for b in criteria.updated):
        return False
    if criteria.categories and not _any_token(entry["cats"], criteria.categories):
        return False
    if criteria.codes and not _any_token(entry["codes"], criteria.codes):
        return False
    return not criteria.own or _own_ok(entry, criteria.own)


def _own_ok(entry: Entry, own: list[tuple[Param, list[Any]]]) -> bool:
    resource: dict[str, Any] = orjson.loads(entry["json"])
    for param, wanted in own:
        values = [v for path in param.paths if (v := _at(resource, path)) is not None]
        if param.kind == "date":
            times = [instant_or_none(v) for v in values]
            if not any(_date_ok(t, wanted[0]) for t in times):
                return False
        elif param.kind == "token":
            held = [t for v in values for t in _value_tokens(v)]
            if not _any_token(held, wanted):
                return False
        else:
            refs = {r for v in values for r in references(v)}
            if not any(w in refs or any(r.endswith("/" + w) for r in refs) for w in wanted):
                return False
    return True


def _at(resource: dict[str, Any], path: Path) -> Any:
    node: Any = resource
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _value_tokens(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and "code" in value and "system" in value:  # a Coding
        return [f"{value['system']}|{value['code']}"]
    return tokens_of(value)


def _date_ok(t: float | None, bound: tuple[str, float, float]) -> bool:
    if t is None:
        return False
    prefix, low, high = bound
    return {
        "eq": low <= t < high,
        "lt": t < low,
        "le": t < high,
        "gt": t >= high,
        "ge": t >= low,
    }[prefix]


def _any_token(held: list[str], wanted: list[str]) -> bool:
    for token in wanted:
        system, bar, code = token.rpartition("|")
        for have in held:
            h_system, _, h_code = have.rpartition("|")
            if not bar and h_code == code:
                return True
            same_system = system == h_system or (not system and not h_system)
            if bar and same_system and (not code or code == h_code):
                return True
    return False
