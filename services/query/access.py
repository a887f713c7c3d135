"""The access decision, as hooks in the manner of HAPI FHIR's consent interceptor.

``start`` decides whether the request may proceed at all and fixes the policy;
``source_allowed`` decides per source before its records are read, ``see_all`` per
record (and counts what it hides); ``will_see`` notes what is returned;
``complete`` yields the access event's data. Deny by default: every
path that does not prove access ends in ``REJECT`` with a reason. Decided locally
from projections fed by events; no call to the consent service.

The rules, in one place:

- the physician is signed in, active in the licence registry, on the roster of the
  hospital the token names, and that hospital participates;
- a record's source hospital is covered by the patient's standing consent (listed
  hospitals or "all"), or by a live per-visit consent for the physician's hospital
  (not expired, not revoked); a hospital in per-visit mode reads only under
  per-visit consents;
- sensitive records only if the patient allowed them;
- break-glass (a declared emergency, time-limited) widens this to every source the
  patient currently lets send data (standing, or any live per-visit consent) and to
  sensitive records. Revoked or never-given consent stays closed even then;
- a patient's SMART token (``fhirUser`` ``Patient/<cid>``) reads that patient's own
  record whole — every source, sensitive data too — and no other;
- a SMART access token reads only the resource types its scopes allow: ``user/``
  scopes for any patient, ``patient/`` scopes only for the patient the app was
  launched with (``user/*.rs`` or ``patient/*.rs``: every type); a read or search of
  another type is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.auth import Scope
from shared.coverage import ConsentState, HospitalState
from shared.events.access import EMERGENCY, PATIENT_REQUEST, TREATMENT


class Verdict(StrEnum):
    PROCEED = "proceed"
    REJECT = "reject"


@dataclass(frozen=True)
class Requester:
    licence: str
    name: str
    hospital: str
    # A SMART access token's resource scopes that apply to this request: ``user/…``,
    # and ``patient/…`` when the request is about the patient the app was launched
    # with. None for the platform's own physician token, which reads every type.
    scopes: tuple[Scope, ...] | None = None
    # Set when a patient's SMART token asks (licence and hospital empty): the CID.
    patient: str | None = None

    def reads(self, rtype: str, action: str = "r") -> bool:
        """Whether the token allows ``action`` (r: read, s: search) on ``rtype``."""
        if self.scopes is None:
            return True
        return any(s.grants(rtype, action, ("user", "patient")) for s in self.scopes)


@dataclass(frozen=True)
class BreakGlass:
    reason: str
    until: datetime


@dataclass(frozen=True)
class Facts:
    """What the decision is made from, read from local projections."""

    now: datetime
    physician_active: bool = False
    on_roster: bool = False
    hospital: HospitalState | None = None
    consent: ConsentState | None = None
    break_glass: BreakGlass | None = None


@dataclass(frozen=True)
class Policy:
    """Which sources and whether sensitive records this request may see."""

    consent: ConsentState
    requesting: str
    per_visit_only: bool
    allow_sensitive: bool
    emergency: bool
    now: datetime
    own: bool = False  # the patient's own record: every source

    def source_allowed(self, source: str) -> bool:
        """The coverage contract decides (``shared.coverage``): ``may_send`` in an
        emergency, ``may_read`` otherwise; the patient sees every source."""
        if self.own:
            return True
        if self.emergency:
            return self.consent.may_send(source, self.now)
        return self.consent.may_read(
            self.requesting, source, self.now, per_visit_only=self.per_visit_only
        )


@dataclass
class AccessContext:
    """What one request asked for and what it was shown."""

    requester: Requester | None
    patient: str
    endpoint: str = ""
    purpose: str = TREATMENT
    verdict: Verdict = Verdict.REJECT
    reason: str = "not decided"
    shown: int = 0
    hidden: int = 0
    categories: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    policy: Policy | None = None
    break_glass: BreakGlass | None = None


def start(ctx: AccessContext, facts: Facts) -> Verdict:
    """Whether the request may read anything at all; fixes the policy if so."""
    if ctx.requester is not None and ctx.requester.patient is not None:
        return own_record(ctx, facts)
    if may_act(ctx, facts) is Verdict.REJECT:
        return ctx.verdict
    requester, hospital = ctx.requester, facts.hospital
    assert requester is not None and hospital is not None
    consent = facts.consent
    glass = facts.break_glass if _live_glass(facts) else None
    if consent is None:
        return _reject(ctx, "patient has not consented")
    per_visit_only = hospital.per_visit_only
    if glass is None and not consent.may_read_any(
        requester.hospital, facts.now, per_visit_only=per_visit_only
    ):
        reason = "no live per-visit consent for this hospital" if per_visit_only else None
        return _reject(ctx, reason or "patient has not consented")
    if glass is not None and not consent.any_consent(facts.now):
        return _reject(ctx, "patient has not consented")
    ctx.policy = Policy(
        consent=consent,
        requesting=requester.hospital,
        per_visit_only=per_visit_only,
        allow_sensitive=consent.allow_sensitive or glass is not None,
        emergency=glass is not None,
        now=facts.now,
    )
    ctx.break_glass = glass
    if glass is not None:
        ctx.purpose = EMERGENCY
    ctx.verdict, ctx.reason = Verdict.PROCEED, "break-glass" if glass else "consent"
    return ctx.verdict


def own_record(ctx: AccessContext, facts: Facts) -> Verdict:
    """A patient reads their own record whole (every source, sensitive data too):
    consent decides what hospitals share with each other, not what a patient sees."""
    assert ctx.requester is not None
    if ctx.requester.patient != ctx.patient:
        return _reject(ctx, "a patient reads only their own record")
    ctx.policy = Policy(
        consent=facts.consent or ConsentState(),
        requesting="",
        per_visit_only=False,
        allow_sensitive=True,
        emergency=False,
        now=facts.now,
        own=True,
    )
    ctx.purpose = PATIENT_REQUEST
    ctx.verdict, ctx.reason = Verdict.PROCEED, "the patient's own record"
    return ctx.verdict


def may_act(ctx: AccessContext, facts: Facts) -> Verdict:
    """The physician may act for the hospital the token names (not yet: for this patient)."""
    if ctx.requester is None:
        return _reject(ctx, ctx.reason if ctx.reason != "not decided" else "not authenticated")
    if not facts.physician_active:
        return _reject(ctx, "licence is not active in the registry")
    if facts.hospital is None or not facts.hospital.active:
        return _reject(ctx, "hospital is not participating")
    if not facts.on_roster:
        return _reject(ctx, "physician is not on the hospital's roster")
    ctx.verdict, ctx.reason = Verdict.PROCEED, "physician may act"
    return ctx.verdict


def source_allowed(ctx: AccessContext, source: str) -> bool:
    """Whether records from ``source`` may be shown at all (before reading them)."""
    return (
        ctx.verdict is Verdict.PROCEED
        and ctx.policy is not None
        and (ctx.policy.source_allowed(source))
    )


def see_all(ctx: AccessContext, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records this request may see, deciding each source once; counts what is hidden."""
    policy = ctx.policy
    if ctx.verdict is not Verdict.PROCEED or policy is None:
        ctx.hidden += len(records)
        return []
    sources: dict[str, bool] = {}
    requester = ctx.requester
    typed = requester is not None and requester.scopes is not None
    shown = []
    for record in records:
        source = record["hospital"]
        if source not in sources:
            sources[source] = policy.source_allowed(source)
        if (
            sources[source]
            and (policy.allow_sensitive or not record.get("sensitive"))
            and (not typed or (requester is not None and requester.reads(record["type"])))
        ):
            shown.append(record)
    ctx.hidden += len(records) - len(shown)
    return shown


def will_see(ctx: AccessContext, record: dict[str, Any]) -> None:
    """Note a record that is returned."""
    ctx.shown += 1
    ctx.sources.add(record["hospital"])
    if record.get("category"):
        ctx.categories.add(record["category"])


def complete(ctx: AccessContext) -> dict[str, Any]:
    """The access event's data for this request (time and correlation id added later)."""
    requester = ctx.requester
    glass = ctx.break_glass
    return {
        "physician": (requester.licence or None) if requester else None,
        "physician_name": (requester.name or None) if requester else None,
        "hospital": (requester.hospital or None) if requester else None,
        "patient": ctx.patient,
        "purpose": ctx.purpose,
        "decision": "permit" if ctx.verdict is Verdict.PROCEED else "deny",
        "reason": ctx.reason,
        "categories": sorted(ctx.categories),
        "sources": sorted(ctx.sources),
        "count": ctx.shown,
        "hidden": ctx.hidden,
        "break_glass": glass is not None,
        "break_glass_reason": glass.reason if glass else None,
        "endpoint": ctx.endpoint,
    }


def _live_glass(facts: Facts) -> bool:
    return facts.break_glass is not None and facts.now < facts.break_glass.until


def _reject(ctx: AccessContext, reason: str) -> Verdict:
    ctx.verdict, ctx.reason = Verdict.REJECT, reason
    return ctx.verdict
