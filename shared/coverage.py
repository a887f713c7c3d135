"""The consent-coverage contract: a patient's consent state, a hospital's participation,
and who they let send and read — one typed state, one set of pure predicates.

The consent service moves these states (``services.consent.domain``) and publishes
each new one in full; ingest and query keep copies from the events and decide with
the same predicates, so the three cannot disagree on what a consent covers
(``tests/unit/test_coverage_agreement.py`` checks it for generated histories).

- **May send** (``may_send``, the ingest gate): the standing consent covers the
  source — it is listed, or "all hospitals", which includes those that join later —
  or a live per-visit consent lists it.
- **May read** (``may_read``): a physician of ``requesting`` may see what ``source``
  sent when a live per-visit consent for ``requesting`` lists ``source``, or — unless
  ``requesting`` reads only under per-visit consents — the standing consent covers it.
- **In an emergency** (break-glass) a physician may read whatever the patient lets be
  sent now (``may_send``); a revoked or never-given consent stays closed.
- A per-visit consent is live until its end time, unless revoked; the decision never
  waits for the expiry event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

from shared.fields import HCode, UtcTime

Role = Literal["consumer", "provider"]
ConsentMode = Literal["standing", "per-visit"]


def _sorted_unique(codes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(codes)))


Codes = Annotated[tuple[HCode, ...], AfterValidator(_sorted_unique)]


class PerVisitConsent(BaseModel):
    """A one-time consent: ``requesting_hospital`` may read ``sources`` until ``until``."""

    model_config = ConfigDict(frozen=True)

    id: str
    requesting_hospital: HCode
    sources: Codes = ()
    until: UtcTime
    revoked: bool = False

    def live(self, now: datetime) -> bool:
        return not self.revoked and now < self.until


class ConsentState(BaseModel):
    """A patient's standing consent, per-visit consents and the sensitive-data choice."""

    model_config = ConfigDict(frozen=True)

    all_hospitals: bool = False
    hospitals: Codes = ()
    allow_sensitive: bool = False
    per_visit: tuple[PerVisitConsent, ...] = ()

    def covers_source(self, source: str) -> bool:
        """The standing consent lets ``source`` send and share this patient's data."""
        return self.all_hospitals or source in self.hospitals

    def live_per_visit(self, now: datetime) -> list[PerVisitConsent]:
        """Per-visit consents neither revoked nor past their end time at ``now``."""
        return [visit for visit in self.per_visit if visit.live(now)]

    def per_visit_sources(self, requesting: str, now: datetime) -> frozenset[str]:
        """Sources a live per-visit consent lets ``requesting`` read at ``now``."""
        return frozenset(
            code
            for visit in self.live_per_visit(now)
            if visit.requesting_hospital == requesting
            for code in visit.sources
        )

    def may_send(self, source: str, now: datetime) -> bool:
        """The ingest gate: standing consent covers ``source`` or a live per-visit lists it."""
        return self.covers_source(source) or any(
            source in visit.sources for visit in self.live_per_visit(now)
        )

    def may_read(
        self, requesting: str, source: str, now: datetime, *, per_visit_only: bool
    ) -> bool:
        """A physician of ``requesting`` may see what ``source`` sent."""
        if source in self.per_visit_sources(requesting, now):
            return True
        return not per_visit_only and self.covers_source(source)

    def may_read_any(self, requesting: str, now: datetime, *, per_visit_only: bool) -> bool:
        """Some source could be shown to a physician of ``requesting`` (before reading)."""
        if self.per_visit_sources(requesting, now):
            return True
        return not per_visit_only and (self.all_hospitals or bool(self.hospitals))

    def any_consent(self, now: datetime) -> bool:
        """The patient lets some hospital send now (what break-glass may widen to)."""
        return self.all_hospitals or bool(self.hospitals) or bool(self.live_per_visit(now))

    def senders(self, now: datetime, providers: Iterable[str]) -> set[str]:
        """The ``providers`` this consent lets send the patient's data now."""
        return {code for code in providers if self.may_send(code, now)}

    def next_expiry(self) -> datetime | None:
        """When the next per-visit consent ends (the expiry loop's next work)."""
        return min((visit.until for visit in self.per_visit), default=None)


class SigningKey(BaseModel):
    """One public key a hospital signs uploads with (an EC P-256 JWK, ES256)."""

    model_config = ConfigDict(frozen=True)

    kid: str
    kty: Literal["EC"] = "EC"
    crv: Literal["P-256"] = "P-256"
    x: str
    y: str
    alg: Literal["ES256"] = "ES256"
    use: Literal["sig"] = "sig"

    def jwk(self) -> dict[str, str]:
        return self.model_dump()


class HospitalState(BaseModel):
    """A participating hospital: consumer (reads) or provider (also sends).

    Its credentials travel as what may be known: the SHA-256 of its admin key
    (``shared.hospital_auth``) and the public keys its uploads are signed with; never a
    secret."""

    model_config = ConfigDict(frozen=True)

    code: HCode
    name: str
    role: Role
    consent_mode: ConsentMode = "standing"
    active: bool = True
    joined_at: UtcTime | None = None
    provider_since: UtcTime | None = None
    admin_key_sha256: str | None = None
    signing_keys: tuple[SigningKey, ...] = ()

    @property
    def is_provider(self) -> bool:
        """It may send data now."""
        return self.active and self.role == "provider"

    @property
    def per_visit_only(self) -> bool:
        """Its physicians may read only under a per-visit consent for the visit."""
        return self.consent_mode == "per-visit"
