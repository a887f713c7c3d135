"""Search parameters, per FHIR R4: parsed (lenient by default) into ``Criteria``, which
``matching.py`` applies to a chart's entries.

Unknown parameters are ignored by default and named in ``Criteria.ignored`` (the
Bundle lists them in an OperationOutcome); with ``strict`` (``Prefer:
handling=strict``) they are refused with ``InvalidInput``. Malformed values of
supported parameters are always refused.

Supported on every type search (``GET /fhir/{type}``): ``patient`` / ``subject``
(``Patient/<cid>`` or ``<cid>``), ``date`` (``eq lt le gt ge`` prefixes,
repeatable; the date ingest indexed for the type), ``category``, ``code`` (tokens
``code``, ``system|code``, ``system|``; comma = or), ``_id``, ``_lastUpdated``,
``_sort`` (``date`` / ``-date``), ``_count``, ``_offset``, ``_summary`` and
``_elements`` (``subsets.py``), ``_total``, ``_include`` and ``_include:iterate``
(``TYPE_INCLUDES``), ``_revinclude`` (``TYPE_REVINCLUDES``), ``_format``, ``_pretty``;
plus each type's own parameters (``TYPE_PARAMS``: Condition's ``onset-date``,
Immunization's ``vaccine-code``, ``status`` ...).

``$everything``: ``_type``, ``_since``, ``start``, ``end``, ``_count``, ``_offset``,
``_summary``, ``_elements``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.query.dates import instant_range
from services.query.fhirparams import (
    TYPE_INCLUDES,
    TYPE_PARAMS,
    TYPE_REVINCLUDES,
    Include,
    Param,
)
from services.query.subsets import Subset, parse_subset
from shared.cid import CID_SYSTEM
from shared.errors import InvalidInput
from shared.fhir import FHIR_JSON

SEARCH_TYPES = (
    "AllergyIntolerance", "Condition", "MedicationDispense", "MedicationRequest",
    "Immunization", "Procedure", "Observation", "DiagnosticReport", "Encounter",
)  # fmt: skip
EVERYTHING_TYPES = frozenset(
    {*SEARCH_TYPES, "MedicationStatement", "ImagingStudy", "Patient", "Organization",
     "Practitioner"}
)  # fmt: skip
# Types read by id (every type a chart may hold).
READ_TYPES = tuple(sorted(EVERYTHING_TYPES))

COMMON_PARAMS = frozenset(
    {"patient", "subject", "date", "category", "code", "_id", "_lastUpdated", "_sort",
     "_count", "_offset", "_summary", "_elements", "_total", "_include", "_include:iterate",
     "_revinclude", "_format", "_pretty"}
)  # fmt: skip
EVERYTHING_PARAMS = frozenset({"_type", "_since", "start", "end", "_count", "_offset", "_format",
                               "_pretty", "_summary", "_elements"})  # fmt: skip
PATIENT_PARAMS = frozenset({"_id", "identifier", "_count", "_offset", "_format", "_pretty",
                            "_summary", "_elements", "_total"})  # fmt: skip
MAX_COUNT = 1000
_PREFIXES = ("eq", "lt", "le", "gt", "ge")
_TOTALS = ("none", "estimate", "accurate")


@dataclass
class Criteria:
    types: frozenset[str] | None = None
    dates: list[tuple[str, float, float]] = field(default_factory=list)
    since: float | None = None
    categories: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    ids: frozenset[str] | None = None
    updated: list[tuple[str, float, float]] = field(default_factory=list)
    # a type's own parameters: (param, bounds or tokens)
    own: list[tuple[Param, list[Any]]] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)  # references to follow
    revincludes: list[str] = field(default_factory=list)  # "Source:param"
    subset: Subset | None = None  # _elements / _summary=true|text|data
    descending: bool = True
    count: int = 100
    offset: int = 0
    summary_count: bool = False
    total: bool = True
    ignored: list[str] = field(default_factory=list)


def check_known(
    pairs: list[tuple[str, str]], allowed: frozenset[str] | set[str], strict: bool = True
) -> list[str]:
    """Parameters not in ``allowed``: refused when ``strict``, else returned (ignored)."""
    unknown = []
    for name, _ in pairs:
        if name not in allowed:
            if strict:
                raise InvalidInput(f"unknown search parameter {name[:40]!r}")
            if name[:40] not in unknown:
                unknown.append(name[:40])
    return unknown


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


def patient_of(pairs: list[tuple[str, str]]) -> str:
    """The patient a search names (``patient`` or ``subject``), or ""."""
    for name in ("patient", "subject", "subject:Patient", "patient:Patient"):
        values = [v for k, v in pairs if k == name]
        if len(values) == 1:
            return values[0].removeprefix("Patient/").rsplit("/Patient/", 1)[-1]
    return ""


def parse_search(
    rtype: str, pairs: list[tuple[str, str]], default_count: int, strict: bool = False
) -> Criteria:
    """Criteria of a type search (the patient parameter is read by the caller)."""
    own = TYPE_PARAMS.get(rtype, {})
    ignored = check_known(pairs, COMMON_PARAMS | set(own), strict)
    count, offset = parse_count(pairs, default_count)
    criteria = Criteria(types=frozenset({rtype}), count=count, offset=offset, ignored=ignored)
    criteria.dates = [_date_bound(v, "date") for k, v in pairs if k == "date"]
    criteria.updated = [_date_bound(v, "_lastUpdated") for k, v in pairs if k == "_lastUpdated"]
    criteria.categories = _tokens(single(pairs, "category"))
    criteria.codes = _tokens(single(pairs, "code"))
    ids = single(pairs, "_id")
    if ids is not None:
        criteria.ids = frozenset(_tokens(ids))
    for name, param in own.items():
        for k, v in pairs:
            if k != name:
                continue
            if param.kind == "date":
                criteria.own.append((param, [_date_bound(v, name)]))
            else:
                criteria.own.append((param, _tokens(v)))
    sort = single(pairs, "_sort")
    if sort not in (None, "date", "-date"):
        raise InvalidInput("_sort supports date and -date")
    criteria.descending = sort != "date"
    _common_flags(criteria, pairs, strict)
    for k, v in pairs:
        if k in ("_include", "_include:iterate"):
            include = _include(rtype, v, strict, iterate=k != "_include")
            if include is None:
                criteria.ignored.append(f"{k}={v[:60]}")
            elif include not in criteria.includes:
                criteria.includes.append(include)
        elif k == "_revinclude":
            _revinclude(criteria, rtype, v, strict)
    return criteria


def _revinclude(criteria: Criteria, rtype: str, value: str, strict: bool) -> None:
    """``Source:param`` (or ``Source:param:Target``) among ``TYPE_REVINCLUDES[rtype]``."""
    source, _, rest = value.partition(":")
    param, _, target = rest.partition(":")
    supported = TYPE_REVINCLUDES.get(rtype, ())
    name = f"{source}:{param}"
    if name in supported and target in ("", rtype):
        if name not in criteria.revincludes:
            criteria.revincludes.append(name)
    elif strict:
        raise InvalidInput(
            f"_revinclude not supported: {value[:60]!r}; on {rtype}: "
            + (", ".join(supported) or "none")
        )
    else:
        criteria.ignored.append(f"_revinclude={value[:60]}")


def parse_patient_search(
    pairs: list[tuple[str, str]], default_count: int, strict: bool = False
) -> tuple[Criteria, str]:
    """Criteria of a ``Patient`` search and the CID it names (``identifier`` or ``_id``)."""
    ignored = check_known(pairs, PATIENT_PARAMS, strict)
    count, offset = parse_count(pairs, default_count)
    criteria = Criteria(types=frozenset({"Patient"}), count=count, offset=offset, ignored=ignored)
    _common_flags(criteria, pairs, strict)
    identifier, pid = single(pairs, "identifier"), single(pairs, "_id")
    cid = ""
    if identifier is not None:
        system, bar, value = identifier.rpartition("|")
        if bar and system and system != CID_SYSTEM:
            raise InvalidInput(f"identifier: only the CID system {CID_SYSTEM} is searchable")
        cid = value
    if pid is not None:
        if cid and pid != cid:
            cid = "-"  # two different patients: nothing matches
        criteria.ids = frozenset({pid})
        cid = cid or pid
    if not cid:
        raise InvalidInput("Patient search needs identifier=<CID system>|<cid> or _id")
    return criteria, cid


def _common_flags(criteria: Criteria, pairs: list[tuple[str, str]], strict: bool) -> None:
    criteria.summary_count, criteria.subset, ignored = parse_subset(pairs, strict)
    criteria.ignored += ignored
    total = single(pairs, "_total")
    if total is not None:
        if total not in _TOTALS:
            raise InvalidInput(f"_total supports {', '.join(_TOTALS)}")
        criteria.total = total != "none"
    fmt = single(pairs, "_format")
    if fmt is not None and not is_json_format(fmt):
        raise InvalidInput("_format: only JSON is served")


def is_json_format(value: str) -> bool:
    return value.split(";")[0].strip() in ("json", "application/json", FHIR_JSON)


def _include(rtype: str, value: str, strict: bool, iterate: bool) -> Include | None:
    """``Source:param`` (or ``Source:param:Target``): the searched type's own include, or
    any served type's with ``:iterate`` (it follows what the first includes brought in)."""
    source, _, rest = value.partition(":")
    param = rest.split(":")[0]
    fields = TYPE_INCLUDES.get(source, {}).get(param) if iterate or source == rtype else None
    if fields is None:
        if strict:
            raise InvalidInput(f"_include not supported: {value[:60]!r}")
        return None
    return Include(source, fields, iterate)


def parse_everything(
    pairs: list[tuple[str, str]], default_count: int, strict: bool = False
) -> Criteria:
    ignored = check_known(pairs, EVERYTHING_PARAMS, strict)
    count, offset = parse_count(pairs, default_count)
    criteria = Criteria(count=count, offset=offset, ignored=ignored)
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
    fmt = single(pairs, "_format")
    if fmt is not None and not is_json_format(fmt):
        raise InvalidInput("_format: only JSON is served")
    criteria.summary_count, criteria.subset, ignored = parse_subset(pairs, strict)
    criteria.ignored += ignored
    return criteria


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


def _date_bound(value: str, name: str = "date") -> tuple[str, float, float]:
    prefix = value[:2] if value[:2] in _PREFIXES else "eq"
    low, high = _range(value[2:] if value[:2] in _PREFIXES else value, name)
    return prefix, low, high


def _tokens(value: str | None) -> list[str]:
    if value is None:
        return []
    found = [v.strip() for v in value.split(",") if v.strip()]
    if not found or len(found) > 50:
        raise InvalidInput("expected one to fifty tokens")
    return found
