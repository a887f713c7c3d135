"""Consent rules: pure functions and value objects, no I/O.

A patient's consent state has three parts (the cross-service contract,
``shared.projections.ConsentView``): the standing consent (listed source
hospitals, or all of them), the per-visit consents (one requesting hospital,
some source hospitals, an end time) and whether sensitive data may be shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from shared.cid import is_valid_cid
from shared.errors import InvalidInput, NotFound

BANGKOK = ZoneInfo("Asia/Bangkok")
ADULT_AGE = 18
HCODE = re.compile(r"^\d{5}$")
MAX_VISIT = timedelta(days=90)

Role = Literal["consumer", "provider"]
ConsentMode = Literal["standing", "per-visit"]


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


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class VisitNotFound(NotFound):
    code = "visit-not-found"


@dataclass(frozen=True)
class PerVisit:
    """A one-time consent: ``requesting_hospital`` may read ``sources`` until ``until``."""

    id: str
    requesting_hospital: str
    sources: frozenset[str]
    until: datetime
    revoked: bool = False

    def live(self, now: datetime) -> bool:
        return not self.revoked and now < self.until

    def to_doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "requesting_hospital": self.requesting_hospital,
            "sources": sorted(self.sources),
            "until": self.until.astimezone(UTC).isoformat(),
            "revoked": self.revoked,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> PerVisit:
        return cls(
            id=str(doc["id"]),
            requesting_hospital=str(doc["requesting_hospital"]),
            sources=frozenset(doc.get("sources", [])),
            until=parse_time(str(doc["until"])),
            revoked=bool(doc.get("revoked", False)),
        )


@dataclass(frozen=True)
class ConsentState:
    """A patient's standing consent, per-visit consents and the sensitive-data choice."""

    all_hospitals: bool = False
    hospitals: frozenset[str] = field(default_factory=frozenset)
    allow_sensitive: bool = False
    per_visit: tuple[PerVisit, ...] = ()

    def grant(self, codes: set[str]) -> ConsentState:
        return replace(self, hospitals=self.hospitals | codes)

    def revoke(self, codes: set[str]) -> ConsentState:
        return replace(self, hospitals=self.hospitals - codes)

    def grant_all(self) -> ConsentState:
        return replace(self, all_hospitals=True)

    def revoke_all_hospitals(self) -> ConsentState:
        """Back to the listed hospitals only."""
        return replace(self, all_hospitals=False)

    def revoke_standing(self) -> ConsentState:
        return replace(self, all_hospitals=False, hospitals=frozenset())

    def revoke_all(self) -> ConsentState:
        """Standing consent and every per-visit consent; the sensitive choice stays."""
        visits = tuple(replace(v, revoked=True) for v in self.per_visit)
        return replace(self.revoke_standing(), per_visit=visits)

    def with_sensitive(self, allowed: bool) -> ConsentState:
        return replace(self, allow_sensitive=allowed)

    def add_visit(self, visit: PerVisit) -> ConsentState:
        return replace(self, per_visit=(*self.per_visit, visit))

    def visit(self, visit_id: str) -> PerVisit:
        for visit in self.per_visit:
            if visit.id == visit_id:
                return visit
        raise VisitNotFound("no such per-visit consent (it may have expired)")

    def revoke_visit(self, visit_id: str) -> ConsentState:
        self.visit(visit_id)
        visits = tuple(replace(v, revoked=v.revoked or v.id == visit_id) for v in self.per_visit)
        return replace(self, per_visit=visits)

    def expired(self, now: datetime) -> list[str]:
        """Ids of per-visit consents whose end time has come."""
        return [v.id for v in self.per_visit if v.until <= now]

    def drop_expired(self, now: datetime) -> ConsentState:
        return replace(self, per_visit=tuple(v for v in self.per_visit if v.until > now))

    def next_expiry(self) -> datetime | None:
        """When the expiry loop next has work for this patient."""
        return min((v.until for v in self.per_visit), default=None)

    def sources(self, now: datetime, providers: Iterable[str]) -> set[str]:
        """The provider hospitals this consent lets send the patient's data now."""
        live = {code for v in self.per_visit if v.live(now) for code in v.sources}
        return {
            code
            for code in providers
            if self.all_hospitals or code in self.hospitals or code in live
        }

    def to_doc(self) -> dict[str, Any]:
        return {
            "all_hospitals": self.all_hospitals,
            "hospitals": sorted(self.hospitals),
            "allow_sensitive": self.allow_sensitive,
            "per_visit": [v.to_doc() for v in self.per_visit],
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> ConsentState:
        if not doc:
            return cls()
        hospitals = doc.get("hospitals", [])
        return cls(
            all_hospitals=bool(doc.get("all_hospitals")),
            hospitals=frozenset(hospitals if isinstance(hospitals, list) else []),
            allow_sensitive=bool(doc.get("allow_sensitive")),
            per_visit=tuple(PerVisit.from_doc(v) for v in doc.get("per_visit", [])),
        )


@dataclass(frozen=True)
class HospitalState:
    """A participating hospital, as published on ``HOSPITAL_EVENTS``."""

    code: str
    name: str
    role: Role
    consent_mode: ConsentMode
    joined_at: str
    provider_since: str | None
    active: bool = True

    @classmethod
    def join(
        cls, code: str, name: str, role: Role, mode: ConsentMode, now: datetime
    ) -> HospitalState:
        at = now.astimezone(UTC).isoformat()
        return cls(code, name, role, mode, at, at if role == "provider" else None)

    def become_provider(self, now: datetime) -> HospitalState:
        if self.role == "provider":
            return self
        return replace(self, role="provider", provider_since=now.astimezone(UTC).isoformat())

    def to_doc(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "role": self.role,
            "consent_mode": self.consent_mode,
            "active": self.active,
            "joined_at": self.joined_at,
            "provider_since": self.provider_since,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> HospitalState:
        return cls(
            code=doc["code"],
            name=doc["name"],
            role=doc["role"],
            consent_mode=doc.get("consent_mode", "standing"),
            joined_at=doc["joined_at"],
            provider_since=doc.get("provider_since"),
            active=bool(doc.get("active", True)),
        )
