"""Consent rules: pure functions and value objects, no I/O.

The states themselves and what they cover are the cross-service contract
(``shared.coverage``): a patient's standing consent (listed source hospitals, or
all of them), per-visit consents (one requesting hospital, some source hospitals,
an end time) and whether sensitive data may be shown; a hospital's role and consent
mode. Here: the checks on input and the transitions from one state to the next.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.cid import is_valid_cid
from shared.coverage import ConsentMode, ConsentState, HospitalState, PerVisitConsent, Role
from shared.errors import InvalidInput, NotFound

BANGKOK = ZoneInfo("Asia/Bangkok")
ADULT_AGE = 18
HCODE = re.compile(r"^\d{5}$")
MAX_VISIT = timedelta(days=90)

__all__ = ["ConsentMode", "ConsentState", "HospitalState", "PerVisitConsent", "Role"]


def check_cid(cid: str) -> str:
    if not is_valid_cid(cid):
        raise InvalidInput("CID must be 13 digits with a valid check digit", code="invalid-cid")
    return cid


def check_hcode(code: str) -> str:
    if not HCODE.match(code):
        raise InvalidInput(f"hospital code must be 5 digits: {code[:20]!r}", code="invalid-hcode")
    return code


def bangkok_today(now: datetime) -> date:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(BANGKOK).date()


def age_on(birth: date, today: date) -> int:
    """Whole years; the birthday itself counts (29 Feb birthdays turn over on 1 Mar)."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def check_adult(birth: date, now: datetime) -> None:
    today = bangkok_today(now)
    if birth > today:
        raise InvalidInput("birth date is in the future", code="invalid-birth-date")
    if age_on(birth, today) < ADULT_AGE:
        raise InvalidInput("patients must be 18 or older to join", code="under-age")


def check_visit_end(until: datetime, now: datetime) -> datetime:
    """A per-visit consent ends in the future, within ``MAX_VISIT``; returned in UTC."""
    if until.tzinfo is None:
        raise InvalidInput("until must carry a time zone (ISO-8601 with offset)", code="naive")
    if until <= now:
        raise InvalidInput("until is in the past", code="until-in-past")
    if until - now > MAX_VISIT:
        raise InvalidInput("a per-visit consent lasts at most 90 days", code="until-too-far")
    return until.astimezone(UTC)


class VisitNotFound(NotFound):
    code = "visit-not-found"


def visit(state: ConsentState, visit_id: str) -> PerVisitConsent:
    for found in state.per_visit:
        if found.id == visit_id:
            return found
    raise VisitNotFound("no such per-visit consent (it may have expired)")


# Consent transitions: each returns the next state (``shared.coverage`` decides what it
# covers). A transition that changes nothing returns an equal state: no event then.


def grant(state: ConsentState, codes: set[str]) -> ConsentState:
    return _with(state, hospitals=(*state.hospitals, *codes))


def revoke(state: ConsentState, codes: set[str]) -> ConsentState:
    return _with(state, hospitals=tuple(c for c in state.hospitals if c not in codes))


def grant_all(state: ConsentState) -> ConsentState:
    return _with(state, all_hospitals=True)


def revoke_all_hospitals(state: ConsentState) -> ConsentState:
    """Back to the listed hospitals only."""
    return _with(state, all_hospitals=False)


def revoke_standing(state: ConsentState) -> ConsentState:
    return _with(state, all_hospitals=False, hospitals=())


def revoke_all(state: ConsentState) -> ConsentState:
    """Standing consent and every per-visit consent; the sensitive choice stays."""
    visits = tuple(v.model_copy(update={"revoked": True}) for v in state.per_visit)
    return _with(revoke_standing(state), per_visit=visits)


def with_sensitive(state: ConsentState, allowed: bool) -> ConsentState:
    return _with(state, allow_sensitive=allowed)


def add_visit(state: ConsentState, added: PerVisitConsent) -> ConsentState:
    return _with(state, per_visit=(*state.per_visit, added))


def revoke_visit(state: ConsentState, visit_id: str) -> ConsentState:
    visit(state, visit_id)
    visits = tuple(
        v.model_copy(update={"revoked": v.revoked or v.id == visit_id}) for v in state.per_visit
    )
    return _with(state, per_visit=visits)


def expired(state: ConsentState, now: datetime) -> list[str]:
    """Ids of per-visit consents whose end time has come."""
    return [v.id for v in state.per_visit if v.until <= now]


def drop_expired(state: ConsentState, now: datetime) -> ConsentState:
    return _with(state, per_visit=tuple(v for v in state.per_visit if v.until > now))


def _with(state: ConsentState, **changes: Any) -> ConsentState:
    """A copy with ``changes``, validated (codes sorted and unique) like any state."""
    return ConsentState.model_validate({**state.model_dump(), **changes})


# Hospital transitions.


def join(code: str, name: str, role: Role, mode: ConsentMode, now: datetime) -> HospitalState:
    at = now.astimezone(UTC)
    provider_since = at if role == "provider" else None
    return HospitalState(
        code=code,
        name=name,
        role=role,
        consent_mode=mode,
        joined_at=at,
        provider_since=provider_since,
    )


def become_provider(hospital: HospitalState, now: datetime) -> HospitalState:
    if hospital.role == "provider":
        return hospital
    return hospital.model_copy(update={"role": "provider", "provider_since": now.astimezone(UTC)})


def expiry_day(at: datetime | None) -> str | None:
    """The UTC day a per-visit consent ends on (``"2026-01-31"``): what the expiry sweep
    matches by equality (a range on ``next_expiry`` would read the whole collection)."""
    if at is None:
        return None
    return (at.astimezone(UTC) if at.tzinfo else at).date().isoformat()


def sweep_days(through: str | None, now: datetime) -> list[str]:
    """The days the expiry sweep reads: from ``through`` (the earliest day that may
    still hold a due consent; None: none before today) up to today, oldest first."""
    today = datetime.fromisoformat(expiry_day(now) or "").date()
    first = min(date.fromisoformat(through), today) if through else today
    return [(first + timedelta(days=n)).isoformat() for n in range((today - first).days + 1)]
