"""Search parameters: parsed strictly (unknown or malformed -> ``InvalidInput``), applied purely.

Supported, per FHIR R4:

- type searches (``GET /fhir/{type}``): ``patient``, ``date`` (``eq lt le gt ge``
  prefixes, repeatable), ``category``, ``code`` (tokens ``code``, ``system|code``,
  ``system|``; comma = or), ``_sort`` (``date`` / ``-date``), ``_count``, ``_offset``;
- ``$everything``: ``_type``, ``_since``, ``start``, ``end``, ``_count``, ``_offset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.query.charts import Entry
from services.query.dates import instant_range
from shared.errors import InvalidInput

SEARCH_TYPES = (
    "AllergyIntolerance", "Condition", "MedicationDispense", "MedicationRequest",
    "Immunization", "Procedure", "Observation", "DiagnosticReport", "Encounter",
)  # fmt: skip
EVERYTHING_TYPES = frozenset(
    {*SEARCH_TYPES, "MedicationStatement", "ImagingStudy", "Patient", "Organization",
     "Practitioner"}
)  # fmt: skip
SEARCH_PARAMS = frozenset({"patient", "date", "category", "code", "_sort", "_count", "_offset"})
EVERYTHING_PARAMS = frozenset({"_type", "_since", "start", "end", "_count", "_offset"})
MAX_COUNT = 1000
_PREFIXES = ("eq", "lt", "le", "gt", "ge")


@dataclass
class Criteria:
    types: frozenset[str] | None = None
    dates: list[tuple[str, float, float]] = field(default_factory=list)
    since: float | None = None
    categories: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    descending: bool = True
    count: int = 100
    offset: int = 0


def check_known(pairs: list[tuple[str, str]], allowed: frozenset[str]) -> None:
    for name, _ in pairs:
        if name not in allowed:
            raise InvalidInput(f"unknown search parameter {name[:40]!r}")


def single(pairs: list[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in pairs if k == name]
    if len(values) > 1:
        raise InvalidInput(f"{name} may be given once")
    return values[0] if values else None


def parse_count(pairs: list[tuple[str, str]], default: int) -> tuple[int, int]:
    count = _integer(single(pairs, "_count"), "_count", default)
    offset = _integer(single(pairs, "_offset"), "_offset", 0)
    if not 0 <= count <= MAX_COUNT:
        raise InvalidInput(f"_count must be between 0 and {MAX_COUNT}")
    if not 0 <= offset <= 1_000_000:
        raise InvalidInput("_offset must be between 0 and 1000000")
    return count, offset


def parse_search(rtype: str, pairs: list[tuple[str, str]], default_count: int) -> Criteria:
    """Criteria of a type search (the patient parameter is read by the caller)."""
    check_known(pairs, SEARCH_PARAMS)
    count, offset = parse_count(pairs, default_count)
    criteria = Criteria(types=frozenset({rtype}), count=count, offset=offset)
    criteria.dates = [_date_bound(v) for k, v in pairs if k == "date"]
    criteria.categories = _tokens(single(pairs, "category"))
    criteria.codes = _tokens(single(pairs, "code"))
    sort = single(pairs, "_sort")
    if sort not in (None, "date", "-date"):
        raise InvalidInput("_sort supports date and -date")
    criteria.descending = sort != "date"
    return criteria


def parse_everything(pairs: list[tuple[str, str]], default_count: int) -> Criteria:
    check_known(pairs, EVERYTHING_PARAMS)
    count, offset = parse_count(pairs, default_count)
    criteria = Criteria(count=count, offset=offset)
    kinds = single(pairs, "_type")
    if kinds is not None:
        wanted = frozenset(k.strip() for k in kinds.split(",") if k.strip())
        unknown = sorted(wanted - EVERYTHING_TYPES)
        if not wanted or unknown:
            raise InvalidInput(f"_type: unsupported resource types {unknown[:5]}")
        criteria.types = wanted
    since = single(pairs, "_since")
    if since is not None:
        criteria.since = _range(since, "_since")[0]
    start, end = single(pairs, "start"), single(pairs, "end")
    if start is not None:
        criteria.dates.append(("ge", *_range(start, "start")))
    if end is not None:
        criteria.dates.append(("le", *_range(end, "end")))
    return criteria


def matches(entry: Entry, criteria: Criteria) -> bool:
    if criteria.types is not None and entry["type"] not in criteria.types:
        return False
    if criteria.since is not None and (entry["updated"] or 0.0) < criteria.since:
        return False
    if criteria.dates and not all(_date_ok(entry["t"], b) for b in criteria.dates):
        return False
    if criteria.categories and not _any_token(entry["cats"], criteria.categories):
        return False
    return not criteria.codes or _any_token(entry["codes"], criteria.codes)


def select(entries: list[Entry], criteria: Criteria) -> list[Entry]:
    """Matching entries in the requested order (dated first, newest first by default)."""
    found = [e for e in entries if matches(e, criteria)]
    if criteria.descending:
        return sorted(found, key=lambda e: (e["t"] is not None, e["t"] or 0.0), reverse=True)
    return sorted(found, key=lambda e: (e["t"] is None, e["t"] or 0.0))


def _integer(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise InvalidInput(f"{name} must be a whole number")
    return int(value)


def _range(value: str, name: str) -> tuple[float, float]:
    try:
        return instant_range(value)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(f"{name}: not a FHIR date or dateTime") from exc


def _date_bound(value: str) -> tuple[str, float, float]:
    prefix = value[:2] if value[:2] in _PREFIXES else "eq"
    low, high = _range(value[2:] if value[:2] in _PREFIXES else value, "date")
    return prefix, low, high


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


def _tokens(value: str | None) -> list[str]:
    if value is None:
        return []
    found = [v.strip() for v in value.split(",") if v.strip()]
    if not found or len(found) > 50:
        raise InvalidInput("expected one to fifty tokens")
    return found


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
