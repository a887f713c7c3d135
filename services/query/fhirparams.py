"""The FHIR R4 search parameters and includes each type search supports (pure).

``TYPE_PARAMS``: a type's own parameters beyond the common ones (``search.py``),
each a date, token or reference over paths of the resource (read from the stored
JSON only when the parameter is given). ``TYPE_INCLUDES``: ``_include=Type:param``
targets, the references a physician follows; ``included`` resolves them among the
records the same request may see (so consent decides them like the rest).
``TYPE_REVINCLUDES``: ``_revinclude=Source:param`` on a search of a type, the records
that point at the page's (``revincluded``: among the same visible records, from the
same source hospital as the record they point at).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from services.query.charts import Entry

Path = tuple[str, ...]


@dataclass(frozen=True)
class Param:
    """A type's own search parameter: ``kind`` date | token | reference, over ``paths``."""

    kind: str
    paths: tuple[Path, ...]
    doc: str = ""


def _date(*paths: Path) -> Param:
    return Param("date", paths)


def _token(*names: str) -> Param:
    return Param("token", tuple((n,) for n in names))


def _ref(*names: str) -> Param:
    return Param("reference", tuple((n,) for n in names))


TYPE_PARAMS: dict[str, dict[str, Param]] = {
    "AllergyIntolerance": {
        "onset": _date(("onsetDateTime",), ("onsetPeriod", "start")),
        "clinical-status": _token("clinicalStatus"),
        "verification-status": _token("verificationStatus"),
        "criticality": _token("criticality"),
    },
    "Condition": {
        "onset-date": _date(("onsetDateTime",), ("onsetPeriod", "start")),
        "recorded-date": _date(("recordedDate",)),
        "abatement-date": _date(("abatementDateTime",), ("abatementPeriod", "start")),
        "clinical-status": _token("clinicalStatus"),
        "verification-status": _token("verificationStatus"),
        "encounter": _ref("encounter"),
    },
    "DiagnosticReport": {
        "status": _token("status"),
        "issued": _date(("issued",)),
        "encounter": _ref("encounter"),
        "result": _ref("result"),
    },
    "Encounter": {
        "status": _token("status"),
        "class": _token("class"),
        "type": _token("type"),
    },
    "Immunization": {
        "vaccine-code": _token("vaccineCode"),
        "status": _token("status"),
    },
    "MedicationDispense": {
        "status": _token("status"),
        "whenhandedover": _date(("whenHandedOver",)),
    },
    "MedicationRequest": {
        "status": _token("status"),
        "intent": _token("intent"),
        "authoredon": _date(("authoredOn",)),
        "encounter": _ref("encounter"),
    },
    "Observation": {
        "status": _token("status"),
        "encounter": _ref("encounter"),
    },
    "Procedure": {
        "status": _token("status"),
        "encounter": _ref("encounter"),
    },
}
# _include targets a physician follows: "Type:param" -> the reference fields.
TYPE_INCLUDES: dict[str, dict[str, tuple[str, ...]]] = {
    "AllergyIntolerance": {"patient": ("patient",)},
    "Condition": {"subject": ("subject",), "patient": ("subject",), "encounter": ("encounter",)},
    "DiagnosticReport": {"subject": ("subject",), "patient": ("subject",),
                         "encounter": ("encounter",), "result": ("result",)},
    "Encounter": {"subject": ("subject",), "patient": ("subject",)},
    "Immunization": {"patient": ("patient",)},
    "MedicationDispense": {"subject": ("subject",), "patient": ("subject",),
                           "medication": ("medicationReference",)},
    "MedicationRequest": {"subject": ("subject",), "patient": ("subject",),
                          "encounter": ("encounter",), "medication": ("medicationReference",)},
    "Observation": {"subject": ("subject",), "patient": ("subject",),
                    "encounter": ("encounter",)},
    "Procedure": {"subject": ("subject",), "patient": ("subject",), "encounter": ("encounter",)},
}  # fmt: skip
# _revinclude on a search of the key type: "Source:param" (a TYPE_INCLUDES entry of
# Source) whose references name a page resource. Only pairs whose references hospitals
# send: Encounter <- the records of the visit, Observation <- its DiagnosticReport.
TYPE_REVINCLUDES: dict[str, tuple[str, ...]] = {
    "Encounter": ("Condition:encounter", "DiagnosticReport:encounter",
                  "MedicationRequest:encounter", "Observation:encounter", "Procedure:encounter"),
    "Observation": ("DiagnosticReport:result",),
}  # fmt: skip


def references(value: Any) -> list[str]:
    """The ``reference`` strings in a Reference or a list of them."""
    items = value if isinstance(value, list) else [value]
    return [str(i["reference"]) for i in items if isinstance(i, dict) and "reference" in i]


class Include(NamedTuple):
    """``_include=source:param`` (the reference ``fields``); ``iterate``: also followed
    from what was included (``_include:iterate``), not only from the page."""

    source: str
    fields: tuple[str, ...]
    iterate: bool = False


def included(page: list[Entry], pool: dict[tuple[str, str], Entry],
             includes: list[Include]) -> list[Entry]:  # fmt: skip
    """The entries of ``pool`` the ``page``'s references name (each once, none of the
    page); ``iterate`` includes follow the references of what they bring in, too (each
    entry is visited once, so a cycle ends)."""
    if not includes:
        return []
    seen = {(e["type"], e["id"]) for e in page}
    found: list[Entry] = []
    todo = [(e, True) for e in page]
    for e, on_page in todo:  # grows while it is walked
        wanted = [i for i in includes if i.source == e["type"] and (on_page or i.iterate)]
        if not wanted:
            continue
        resource: dict[str, Any] = orjson.loads(e["json"])
        for ref in (r for i in wanted for name in i.fields for r in references(resource.get(name))):
            parts = ref.split("/")
            key = (parts[-2], parts[-1]) if len(parts) >= 2 else None
            if key is not None and key in pool and key not in seen:
                seen.add(key)
                found.append(pool[key])
                todo.append((pool[key], False))
    return found


def revincluded(page: list[Entry], pool: list[Entry], revincludes: list[str],
                skip: list[Entry]) -> list[Entry]:  # fmt: skip
    """The entries of ``pool`` whose ``Source:param`` references name a ``page`` entry of
    the same source hospital (each once; none of ``page`` or ``skip``)."""
    if not revincludes or not page:
        return []
    targets = {(e["hospital"], e["type"], e["id"]) for e in page}
    seen = {(e["type"], e["id"]) for e in [*page, *skip]}
    found: list[Entry] = []
    for value in revincludes:
        source, _, param = value.partition(":")
        fields = TYPE_INCLUDES[source][param]
        for e in pool:
            if e["type"] != source or (e["type"], e["id"]) in seen:
                continue
            resource: dict[str, Any] = orjson.loads(e["json"])
            for ref in (r for name in fields for r in references(resource.get(name))):
                parts = ref.split("/")
                if len(parts) >= 2 and (e["hospital"], parts[-2], parts[-1]) in targets:
                    seen.add((e["type"], e["id"]))
                    found.append(e)
                    break
    return found
