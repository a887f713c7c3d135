"""What a query searchset holds besides its records: its OperationOutcome entry (search
mode ``outcome``: the parameters ignored, the limits the read worked under)."""

from __future__ import annotations

from typing import Any

from shared.fhir import LIMIT_SYSTEM


def records_of(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """A searchset's entries of records (matches and includes), not its OperationOutcome
    (search mode ``outcome``: the ignored parameters, the read's limits)."""
    return [e for e in bundle.get("entry", []) if e["search"]["mode"] != "outcome"]


def limits_of(bundle: dict[str, Any]) -> list[str]:
    """The codes of the limits a searchset says its read worked under (query's limits.py)."""
    return [
        coding["code"]
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == "outcome"
        for issue in e["resource"]["issue"]
        for coding in issue.get("details", {}).get("coding", [])
        if coding["system"] == LIMIT_SYSTEM
    ]
