"""The limits a physician's read works under, said in the Bundle it answers.

When a physician reads under the patient's consent (or break-glass), every searchset
and ``$everything`` Bundle carries one OperationOutcome entry (search mode
``outcome``) whose ``information`` issues state the limits in force: **the policy,
never what it hid**. Saying "sensitive records hidden" would tell the physician the
patient has sensitive records, which is what the patient chose not to share; so the
limits come from the ``Policy`` alone (the consent state, the reading hospital's
consent mode, break-glass), never from the records, and carry no hospital list and no
count. The patient's own record carries none.

Each issue names its limit with a code of ``LIMIT_SYSTEM`` (``details.coding``), so an
app can translate it, and says it in English (``diagnostics``); a limit that runs
until a time (a per-visit consent, break-glass) carries it in the ``UNTIL_URL``
extension as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.query.access import AccessContext, BreakGlass, Policy
from shared.fhir import LIMIT_SYSTEM, LIMIT_UNTIL_URL

SENSITIVE = "sensitive-not-shared"
CHOSEN_HOSPITALS = "chosen-hospitals"
PER_VISIT = "per-visit-only"
BREAK_GLASS = "break-glass"

_SAID = {
    SENSITIVE: "The patient's consent does not share sensitive data (such as HIV, mental "
    "health or substance use) with this hospital: none is shown, whether or not any exists.",
    CHOSEN_HOSPITALS: "The patient's consent shares data only from the hospitals the patient "
    "chose, not from every participating hospital.",
    PER_VISIT: "This hospital reads only under a per-visit consent: only the hospitals the "
    "patient's live per-visit consent for this hospital lists",
    BREAK_GLASS: "Emergency access (break-glass) is in force: this read is audited with its "
    "reason and the patient is told",
}


@dataclass(frozen=True)
class Limit:
    code: str
    until: datetime | None = None

    @property
    def diagnostics(self) -> str:
        said = _SAID[self.code]
        if self.code in (PER_VISIT, BREAK_GLASS):
            said += f", until {_instant(self.until)}." if self.until is not None else "."
        return said

    def issue(self) -> dict[str, Any]:
        """The limit as an OperationOutcome issue (severity information)."""
        found: dict[str, Any] = {
            "severity": "information",
            "code": "informational",
            "details": {"coding": [{"system": LIMIT_SYSTEM, "code": self.code}]},
            "diagnostics": self.diagnostics,
        }
        if self.until is not None:
            found["extension"] = [{"url": LIMIT_UNTIL_URL, "valueDateTime": _instant(self.until)}]
        return found


def limits(policy: Policy | None, glass: BreakGlass | None = None) -> list[Limit]:
    """The limits ``policy`` puts on a physician's read (none on the patient's own)."""
    if policy is None or policy.own:
        return []
    found: list[Limit] = []
    if policy.emergency:
        found.append(Limit(BREAK_GLASS, glass.until if glass else None))
    if policy.per_visit_only and not policy.emergency:
        found.append(Limit(PER_VISIT, _per_visit_until(policy)))
    elif not policy.consent.all_hospitals:
        found.append(Limit(CHOSEN_HOSPITALS))
    if not policy.allow_sensitive:
        found.append(Limit(SENSITIVE))
    return found


def _per_visit_until(policy: Policy) -> datetime | None:
    """When the last live per-visit consent for the reading hospital ends."""
    ends = [
        visit.until
        for visit in policy.consent.live_per_visit(policy.now)
        if visit.requesting_hospital == policy.requesting
    ]
    return max(ends, default=None)


def _instant(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def said(ctx: AccessContext) -> list[dict[str, Any]]:
    """The limits of the read ``ctx`` decided, as OperationOutcome issues."""
    return [limit.issue() for limit in limits(ctx.policy, ctx.break_glass)]
