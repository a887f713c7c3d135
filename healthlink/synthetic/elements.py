"""Small FHIR JSON building blocks: ids, times, codings, references, bundle entries."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from healthlink.synthetic.vocabulary import HOSPITAL_NAMES, TERMINOLOGY, THAI_TIME
from shared.cid import HCODE_SYSTEM

JSON = dict[str, Any]


def uuid4_from(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def parse_anchor(updated: str) -> datetime:
    when = datetime.fromisoformat(updated)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def moment_before(rng: random.Random, anchor: datetime, max_days: int = 5 * 365) -> datetime:
    """A local Thai time within ``max_days`` before ``anchor``, office hours."""
    day = (anchor - timedelta(days=rng.randint(1, max_days))).astimezone(THAI_TIME)
    return day.replace(hour=rng.randint(8, 16), minute=rng.randint(0, 59), second=0,
                       microsecond=0)  # fmt: skip


def iso(moment: datetime) -> str:
    return moment.isoformat()


def cc(system: str, code: str, display: str, text: str | None = None) -> JSON:
    concept: JSON = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        concept["text"] = text
    return concept


def term(cs: str, code: str, display: str | None = None) -> JSON:
    coding: JSON = {"system": TERMINOLOGY + cs, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def hospital_ref(code: str) -> JSON:
    th, _en = HOSPITAL_NAMES.get(code, (f"โรงพยาบาล {code}", ""))
    return {"identifier": {"system": HCODE_SYSTEM, "value": code}, "display": th}


def bundle_entry(resource: JSON, bundle_type: str, method: str = "PUT") -> JSON:
    entry: JSON = {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
    if bundle_type in ("transaction", "batch"):
        url = resource["resourceType"]
        if method == "PUT":
            url = f"{url}/{resource['id']}"
        entry["request"] = {"method": method, "url": url}
    elif bundle_type == "searchset":
        entry["search"] = {"mode": "match" if resource["resourceType"] == "Patient" else "include"}
    return entry
