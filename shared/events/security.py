"""Security events on ``SECURITY_EVENTS``: sign-ins, lock-outs, roster changes,
break-glass declarations (key: licence), patients' sign-ins (key: CID), operator actions
and refresh-token reuse (key: the operator or client). Query publishes break-glass and
(until the auth service takes them over) its own sign-ins; every service publishes the
operator actions taken through its API (``shared/operators.py``); the auth service
publishes the rest. Audit keeps them all in its chains. A ``SecurityEvent`` names the
physician, the hospital and the time."""

from __future__ import annotations

from pydantic import Field

from shared.events.base import Event
from shared.fields import Cid, UtcTime
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
    """Hospital staff put the physician on the hospital's roster (``by``: who did)."""

    NAME = "roster.physician_added"

    by: str | None = None


class PhysicianRemoved(SecurityEvent):
    NAME = "roster.physician_removed"

    by: str | None = None


class BreakGlassDeclared(SecurityEvent):
    """A declared emergency for one patient, time-limited, with a written reason."""

    NAME = "access.break_glass_declared"

    patient: str
    reason: str
    until: UtcTime


class PatientSignedIn(Event):
    """A patient passed OTP and face scan in a wallet session (``session``: its id)."""

    NAME = "patient.signed_in"
    TOPIC = SECURITY_EVENTS

    patient: Cid
    client_id: str
    session: str
    time: UtcTime


class PatientSignInFailed(Event):
    """``reason``: ``otp-wrong``, ``otp-exhausted``, ``otp-expired``, ``scan-failed``,
    ``scan-refused`` or ``not-registered``."""

    NAME = "patient.sign_in_failed"
    TOPIC = SECURITY_EVENTS

    patient: Cid
    reason: str
    time: UtcTime


class OperatorActed(Event):
    """An operator's (or a hospital system's) change, under the caller's own identity
    (``bootstrap`` for the development break-glass token): ``action`` such as
    ``client.registered``, ``licence.loaded``, ``licence.pin_reset``, ``hospital.suspended``,
    ``deadletter.retried``; ``target`` the client id, licence, hospital or dead letters it
    changed; ``detail`` the service and the operator's roles, among others."""

    NAME = "operator.acted"
    TOPIC = SECURITY_EVENTS

    operator: str
    action: str
    target: str
    time: UtcTime
    detail: dict[str, str] = Field(default_factory=dict)


class RefreshTokenReused(Event):
    """A rotated refresh token (or a used authorization code) came back: its whole
    family of tokens is revoked."""

    NAME = "token.reuse_detected"
    TOPIC = SECURITY_EVENTS

    client_id: str
    subject: str
    family: str
    time: UtcTime


class TokenRevoked(Event):
    """A client revoked a token it holds (RFC 7009, ``POST /revoke``; the portal does
    at sign-out): ``kind`` ``refresh_token`` (its whole family ends) or ``access_token``."""

    NAME = "token.revoked"
    TOPIC = SECURITY_EVENTS

    client_id: str
    subject: str
    kind: str
    time: UtcTime
