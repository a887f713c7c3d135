"""The access decision, as hooks in the manner of HAPI FHIR's consent interceptor.

``start`` decides whether the request may proceed at all; ``can_see`` decides per
record; ``complete`` yields the access event. Deny by default: every path that
does not prove access ends in ``REJECT`` with a reason. Decided locally from
projections; no call to the consent service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.projections import ConsentView, HospitalView


class Verdict(StrEnum):
    PROCEED = "proceed"
    REJECT = "reject"


@dataclass(frozen=True)
class Requester:
    licence: str
    name: str
    hospital: str


@dataclass
class AccessContext:
    """What one request asked for and what it was shown."""

    requester: Requester | None
    patient: str
    purpose: str = "TREAT"
    verdict: Verdict = Verdict.REJECT
    reason: str = "not decided"
    shown: int = 0
    hidden: int = 0
    categories: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    consent: ConsentView | None = None


def start(
    ctx: AccessContext, on_roster: bool, hospital: HospitalView | None, consent: ConsentView | None
) -> Verdict:
    """Whether the request may read anything at all."""
    if ctx.requester is None:
        return _reject(ctx, "not authenticated")
    if hospital is None or not hospital.active:
        return _reject(ctx, "hospital is not participating")
    if not on_roster:
        return _reject(ctx, "physician is not on the hospital's roster")
    if consent is None or not (consent.all_hospitals or consent.hospitals):
        return _reject(ctx, "patient has not consented")
    ctx.consent = consent
    ctx.verdict, ctx.reason = Verdict.PROCEED, "consent"
    return ctx.verdict


def can_see(ctx: AccessContext, record: dict[str, Any]) -> bool:
    """Whether this record may be shown; counts what was shown and hidden."""
    consent = ctx.consent
    visible = (
        ctx.verdict is Verdict.PROCEED
        and consent is not None
        and consent.covers_source(record["hospital"])
        and (not record.get("sensitive") or consent.allow_sensitive)
    )
    if visible:
        ctx.shown += 1
        ctx.sources.add(record["hospital"])
        if record.get("category"):
            ctx.categories.add(record["category"])
    else:
        ctx.hidden += 1
    return visible


def complete(ctx: AccessContext) -> dict[str, Any]:
    """The access event's data for this request."""
    requester = ctx.requester
    return {
        "physician": requester.licence if requester else None,
        "physician_name": requester.name if requester else None,
        "hospital": requester.hospital if requester else None,
        "patient": ctx.patient,
        "purpose": ctx.purpose,
        "decision": "permit" if ctx.verdict is Verdict.PROCEED else "deny",
        "reason": ctx.reason,
        "categories": sorted(ctx.categories),
        "sources": sorted(ctx.sources),
        "count": ctx.shown,
        "hidden": ctx.hidden,
        "break_glass": False,
    }


def _reject(ctx: AccessContext, reason: str) -> Verdict:
    ctx.verdict, ctx.reason = Verdict.REJECT, reason
    return ctx.verdict
