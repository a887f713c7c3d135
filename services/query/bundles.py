"""FHIR shapes the query API returns: searchset Bundles, the patient, the summary.

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
from services.query.search import Criteria
from shared.cid import CID_SYSTEM

SUMMARY_ITEMS = 5


def searchset(
    page: list[Entry],
    total: int,
    criteria: Criteria,
    link: Callable[[int], str],
    base: str,
    included: list[Entry] | None = None,
    notes: list[dict[str, Any]] | None = None,
) -> bytes:
    """A searchset Bundle of one page: absolute ``fullUrl``s on ``base`` (the FHIR base),
    ``self`` / ``next`` / ``previous`` links, search modes, and one OperationOutcome
    entry (search mode ``outcome``) when there is something to say: the parameters
    ignored (warnings), then ``notes`` (the limits the read works under, ``limits.py``).
    ``total`` counts the matches only."""
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
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":")).encode()
    parts = [] if criteria.summary_count else [_entry(base, e, "match") for e in page]
    parts += [_entry(base, e, "include") for e in included or []]
    issues = ignored_outcome(criteria.ignored)["issue"] if criteria.ignored else []
    issues += notes or []
    if issues:
        said = {"resourceType": "OperationOutcome", "issue": issues}
        outcome = json.dumps(said, separators=(",", ":"))
        parts.append(
            f'{{"fullUrl":"urn:uuid:{uuid.uuid4()}","resource":{outcome},'
            '"search":{"mode":"outcome"}}'.encode()
        )
    if not parts:
        return text
    return b"".join((text[:-1], b',"entry":[', b",".join(parts), b"]}"))


def _entry(base: str, e: Entry, mode: str) -> bytes:
    """One entry, encoded on its own: joining a thousand of them as bytes costs a tenth
    of joining them as one text (a Thai name makes the text two bytes a character, and
    the megabyte-sized temporaries each cost a thousand page faults)."""
    return (
        f'{{"fullUrl":"{base}/{e["type"]}/{e["id"]}","resource":{e["json"]},'
        f'"search":{{"mode":"{mode}"}}}}'
    ).encode()


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
