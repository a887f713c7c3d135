"""Consent and patient events, on ``CONSENT_EVENTS`` (key: CID); the consent service
alone publishes them.

A consent change carries the **full resulting state** and a version per patient (+1
per change), so any service keeps its own copy with ``apply_versioned`` and decides
with the predicates of ``shared.coverage``. Patient events carry no state.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from shared.coverage import ConsentState
from shared.events.base import Event
from shared.fields import Cid, UtcTime
from shared.topics import CONSENT_EVENTS


class ConsentChanged(Event):
    """Any change of a patient's consent: the version it made and the whole new state."""

    TOPIC = CONSENT_EVENTS

    version: int = Field(ge=1)
    state: ConsentState


class ConsentGranted(ConsentChanged):
    """Hospitals added to the standing consent, or "all hospitals" switched on."""

    NAME = "consent.granted"


class ConsentRevoked(ConsentChanged):
    """A hospital removed, "all hospitals" switched off, or everything revoked."""

    NAME = "consent.revoked"


class SensitiveChanged(ConsentChanged):
    """Sensitive data allowed or hidden."""

    NAME = "consent.sensitive_changed"


class PerVisitGranted(ConsentChanged):
    """A per-visit consent given."""

    NAME = "consent.per_visit_granted"


class PerVisitRevoked(ConsentChanged):
    """A per-visit consent revoked (it stays, marked revoked, until its end time)."""

    NAME = "consent.per_visit_revoked"


class PerVisitExpired(ConsentChanged):
    """The end time of per-visit consents came: they left the state."""

    NAME = "consent.per_visit_expired"

    expired: list[str] = Field(default_factory=list)


class PatientEvent(Event):
    """Something that happened to a registered patient (no consent state)."""

    TOPIC = CONSENT_EVENTS

    cid: Cid


class PatientRegistered(PatientEvent):
    """A patient joined (18 or older); event id ``patient-registered-<cid>``."""

    NAME = "patient.registered"

    birth_date: date
    registered_at: UtcTime


class VerificationEvent(PatientEvent):
    """An identity verification attempt's outcome; ``day`` is the Bangkok date."""

    day: str
    time: UtcTime


class VerificationSucceeded(VerificationEvent):
    NAME = "patient.verification_succeeded"


class VerificationFailed(VerificationEvent):
    NAME = "patient.verification_failed"

    attempt: int = Field(ge=1)
    remaining: int = Field(ge=0)


class VerificationRefused(VerificationEvent):
    """More than the day's attempts: the FAQ's message, in Thai and English."""

    NAME = "patient.verification_refused"

    message: dict[str, str]
