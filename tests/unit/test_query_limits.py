"""The limits a physician's read works under (``services/query/limits.py``): each case
from the policy alone, their shape as OperationOutcome issues, and, as a property over
generated worlds, that a limit is said exactly when it can leave something out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.query import access
from services.query.access import AccessContext, BreakGlass, Facts, Policy, Requester, Verdict
from services.query.limits import (
    BREAK_GLASS,
    CHOSEN_HOSPITALS,
    PER_VISIT,
    SENSITIVE,
    Limit,
    limits,
    said,
)
from shared.coverage import ConsentMode, ConsentState, HospitalState, PerVisitConsent
from shared.fhir import LIMIT_SYSTEM, LIMIT_UNTIL_URL
from tests.unit.test_query_rules import CODES, ME, NOW, consents

pytestmark = pytest.mark.unit
LATER, LATEST = NOW + timedelta(hours=2), NOW + timedelta(hours=5)


def policy(consent: ConsentState, **kwargs: Any) -> Policy:
    found: dict[str, Any] = {"requesting": ME, "per_visit_only": False, "emergency": False}
    found |= kwargs
    allow = found.pop("allow_sensitive", consent.allow_sensitive)
    return Policy(consent=consent, allow_sensitive=allow, now=NOW, **found)


def visit(requesting: str, until: datetime, revoked: bool = False) -> PerVisitConsent:
    return PerVisitConsent(
        id=f"v-{requesting}-{until:%H}", requesting_hospital=requesting, sources=("10670",),
        until=until, revoked=revoked,
    )  # fmt: skip


def codes(found: list[Limit]) -> list[str]:
    return [limit.code for limit in found]


def test_nothing_is_said_without_a_physicians_policy() -> None:
    assert limits(None) == []
    everything = ConsentState(all_hospitals=False, hospitals=("10670",), allow_sensitive=False)
    assert limits(policy(everything, requesting="", own=True, allow_sensitive=True)) == []


def test_a_consent_of_every_hospital_with_sensitive_data_says_nothing() -> None:
    assert limits(policy(ConsentState(all_hospitals=True, allow_sensitive=True))) == []


def test_chosen_hospitals_only() -> None:
    chosen = ConsentState(hospitals=("10670", "13781"), allow_sensitive=True)
    assert codes(limits(policy(chosen))) == [CHOSEN_HOSPITALS]


def test_sensitive_data_not_shared() -> None:
    every = ConsentState(all_hospitals=True)
    assert codes(limits(policy(every))) == [SENSITIVE]
    chosen = ConsentState(hospitals=("10670",))
    assert codes(limits(policy(chosen))) == [CHOSEN_HOSPITALS, SENSITIVE]


def test_a_per_visit_hospital_reads_until_its_last_live_per_visit_consent() -> None:
    consent = ConsentState(
        all_hospitals=True,  # standing consent does not count for a per-visit hospital
        allow_sensitive=True,
        per_visit=(
            visit(ME, LATER),
            visit(ME, LATEST + timedelta(hours=1), revoked=True),
            visit("10669", LATEST + timedelta(hours=2)),  # another hospital's
            visit(ME, NOW - timedelta(minutes=1)),  # ended
            visit(ME, LATEST),
        ),
    )
    (found,) = limits(policy(consent, per_visit_only=True))
    assert found == Limit(PER_VISIT, LATEST)
    assert found.diagnostics.endswith(f"until {LATEST:%Y-%m-%dT%H:%M:%S}Z.")
    none_live = ConsentState(per_visit=(visit(ME, NOW - timedelta(minutes=1)),))
    assert limits(policy(none_live, per_visit_only=True)) == [
        Limit(PER_VISIT),
        Limit(SENSITIVE),
    ]


def test_break_glass_is_said_with_its_end() -> None:
    glass = BreakGlass("unconscious", LATER)
    chosen = ConsentState(hospitals=("10670",))
    found = limits(policy(chosen, emergency=True, allow_sensitive=True), glass)
    assert found == [Limit(BREAK_GLASS, LATER), Limit(CHOSEN_HOSPITALS)]
    # a per-visit hospital in an emergency reads what the patient lets send: the
    # per-visit limit is not in force, the patient's choice of hospitals is
    per_visit = policy(chosen, emergency=True, per_visit_only=True, allow_sensitive=True)
    assert codes(limits(per_visit, glass)) == [BREAK_GLASS, CHOSEN_HOSPITALS]
    every = ConsentState(all_hospitals=True)
    assert codes(limits(policy(every, emergency=True, allow_sensitive=True))) == [BREAK_GLASS]


def test_each_limit_is_an_informational_issue_with_a_code_and_no_hospital() -> None:
    consent = ConsentState(hospitals=("10670", "13781"), per_visit=(visit(ME, LATER),))
    ctx = AccessContext(Requester("12345", "Dr", ME), "1101700230705")
    hospital = HospitalState(code=ME, name="Chula", role="consumer", consent_mode="per-visit")
    glass = BreakGlass("unconscious", LATEST)
    assert access.start(ctx, Facts(NOW, True, True, hospital, consent, glass)) is Verdict.PROCEED
    issues = said(ctx)
    assert [i["details"]["coding"][0]["code"] for i in issues] == [BREAK_GLASS, CHOSEN_HOSPITALS]
    for issue in issues:
        assert issue["severity"] == "information" and issue["code"] == "informational"
        assert issue["details"]["coding"][0]["system"] == LIMIT_SYSTEM
        assert issue["diagnostics"] and not any(code in str(issue) for code in CODES)
    until = {"url": LIMIT_UNTIL_URL, "valueDateTime": "2026-11-28T17:00:00Z"}  # LATEST
    assert issues[0]["extension"] == [until]
    assert "extension" not in issues[1]
    assert "sensitive" in Limit(SENSITIVE).diagnostics and "chose" in issues[1]["diagnostics"]


ELSEWHERE = "99999"  # a hospital no generated consent names


@settings(max_examples=300, deadline=None)
@given(
    consent=consents,
    mode=st.sampled_from(["standing", "per-visit"]),
    glass_minutes=st.none() | st.integers(-30, 30),
)
def test_a_limit_is_said_exactly_when_it_can_leave_something_out(
    consent: ConsentState | None, mode: ConsentMode, glass_minutes: int | None
) -> None:
    """Over generated consents: "sensitive" exactly when a sensitive record would be
    hidden, a hospital limit exactly when some hospital's records would be, break-glass
    exactly in an emergency — whatever records exist (limits never see them)."""
    glass = None
    if glass_minutes is not None:
        glass = BreakGlass("emergency", NOW + timedelta(minutes=glass_minutes))
    hospital = HospitalState(code=ME, name="Chula", role="consumer", consent_mode=mode)
    ctx = AccessContext(Requester("12345", "Dr", ME), "1101700230705")
    if access.start(ctx, Facts(NOW, True, True, hospital, consent, glass)) is Verdict.REJECT:
        assert said(ctx) == []
        return
    assert ctx.policy is not None
    found = codes(limits(ctx.policy, ctx.break_glass))
    assert (SENSITIVE in found) == (not ctx.policy.allow_sensitive)
    some_hidden = not all(ctx.policy.source_allowed(s) for s in [*CODES, ELSEWHERE])
    assert (CHOSEN_HOSPITALS in found or PER_VISIT in found) == some_hidden
    assert (BREAK_GLASS in found) == ctx.policy.emergency
    assert not (CHOSEN_HOSPITALS in found and PER_VISIT in found)
