"""Consent rules: pure functions and value objects, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from shared.cid import is_valid_cid
from shared.errors import InvalidInput

BANGKOK = ZoneInfo("Asia/Bangkok")
ADULT_AGE = 18
HCODE = re.compile(r"^\d{5}$")

Role = Literal["consumer", "provider"]
ConsentMode = Literal["standing", "per-visit"]


def check_cid(cid: str) -> str:
    if not is_valid_cid(cid):
        raise InvalidInput("CID must be 13 digits with a valid check digit", code="invalid-cid")
    return cid


def check_hcode(code: str) -> str:
    if not HCODE.match(code):
        raise InvalidInput("hospital code must be 5 digits", code="invalid-hcode")
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


@dataclass(frozen=True)
class ConsentState:
    """A patient's standing consent: listed source hospitals or all of them."""

    all_hospitals: bool = False
    hospitals: frozenset[str] = field(default_factory=frozenset)
    allow_sensitive: bool = False

    def grant(self, codes: set[str]) -> ConsentState:
        return replace(self, hospitals=self.hospitals | codes)

    def revoke(self, codes: set[str]) -> ConsentState:
        return replace(self, hospitals=self.hospitals - codes)

    def grant_all(self) -> ConsentState:
        return replace(self, all_hospitals=True)

    def revoke_all(self) -> ConsentState:
        return ConsentState(allow_sensitive=self.allow_sensitive)

    def with_sensitive(self, allowed: bool) -> ConsentState:
        return replace(self, allow_sensitive=allowed)

    def to_doc(self) -> dict[str, object]:
        return {
            "all_hospitals": self.all_hospitals,
            "hospitals": sorted(self.hospitals),
            "allow_sensitive": self.allow_sensitive,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, object] | None) -> ConsentState:
        if not doc:
            return cls()
        hospitals = doc.get("hospitals", [])
        return cls(
            all_hospitals=bool(doc.get("all_hospitals")),
            hospitals=frozenset(hospitals if isinstance(hospitals, list) else []),
            allow_sensitive=bool(doc.get("allow_sensitive")),
        )
