"""Security events on ``SECURITY_EVENTS`` (key: licence): sign-ins, lock-outs, roster
changes, break-glass declarations. The query service alone publishes them; audit keeps
them in its chains. Every one names the physician, the hospital and the time."""

from __future__ import annotations

from pydantic import Field

from shared.events.base import Event
from shared.fields import UtcTime
from shared.topics import SECURITY_EVENTS


class SecurityEvent(Event):
    TOPIC = SECURITY_EVENTS

    physician: str
    hospital: str
    time: UtcTime


class PhysicianSignedIn(SecurityEvent):
    NAME = "physician.signed_in"


class SignInFailed(SecurityEvent):
    """``reason``: ``bad-credentials``, ``locked-out`` or ``not-on-roster``."""

    NAME = "physician.sign_in_failed"

    reason: str
    failures: int | None = None


class PhysicianLockedOut(SecurityEvent):
    NAME = "physician.locked_out"

    failures: int = Field(ge=1)
    until: UtcTime


class PhysicianAdded(SecurityEvent):
    """Hospital staff put the physician on the hospital's roster."""

    NAME = "roster.physician_added"


class PhysicianRemoved(SecurityEvent):
    NAME = "roster.physician_removed"


class BreakGlassDeclared(SecurityEvent):
    """A declared emergency for one patient, time-limited, with a written reason."""

    NAME = "access.break_glass_declared"

    patient: str
    reason: str
    until: UtcTime
