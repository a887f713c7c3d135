"""Auth errors, each mapped to its HTTP status by the shared error map (and to an OAuth
error on the OAuth endpoints, ``oauth.py``).

Unauthorized   BadCredentials, OtpWrong, OtpExpired, ScanFailed
Forbidden      NotOnRoster, CsrfMismatch, NotAllowed
NotFound       ClientNotFound, LicenceNotFound, PatientNotRegistered, InteractionNotFound
Conflict       ClientExists, ConcurrentChange
Rejected 429   LockedOut, Throttled, OtpExhausted, ScanRefused
Transient      VerifierUnavailable
"""

from __future__ import annotations

from shared.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Rejected,
    Transient,
    Unauthorized,
)


class BadCredentials(Unauthorized):
    code = "bad-credentials"


class OtpWrong(Unauthorized):
    code = "otp-wrong"


class OtpExpired(Unauthorized):
    code = "otp-expired"


class ScanFailed(Unauthorized):
    code = "scan-failed"


class NotOnRoster(Forbidden):
    code = "not-on-roster"


class CsrfMismatch(Forbidden):
    code = "csrf"


class NotAllowed(Forbidden):
    code = "not-allowed"


class ClientNotFound(NotFound):
    code = "client-not-found"


class LicenceNotFound(NotFound):
    code = "licence-not-found"


class PatientNotRegistered(NotFound):
    code = "not-registered"


class InteractionNotFound(NotFound):
    """The sign-in page's request is unknown or expired: start again from the app."""

    code = "interaction-expired"


class ClientExists(Conflict):
    code = "client-exists"


class ConcurrentChange(Conflict):
    code = "concurrent-change"


class TooMany(Rejected):
    status = 429


class LockedOut(TooMany):
    code = "locked-out"


class Throttled(TooMany):
    code = "throttled"


class OtpExhausted(TooMany):
    code = "otp-exhausted"


class ScanRefused(TooMany):
    code = "scan-refused"


class BadRequest(InvalidInput):
    code = "invalid"


class VerifierUnavailable(Transient):
    code = "verifier-unavailable"
