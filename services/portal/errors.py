"""The portal's errors: each carries a code the page translates (web/i18n/*.json)."""

from __future__ import annotations

from shared.errors import Forbidden, HealthLinkError, InvalidInput, Transient, Unauthorized


class SignInRefused(Unauthorized):
    """Wrong licence number or PIN (code ``wrong-credentials``)."""

    code = "wrong-credentials"


class Refused(Forbidden):
    """The query service refused the read (code ``refused``; the detail is its reason)."""

    code = "refused"


class NotOnRoster(Forbidden):
    """The physician is not on that hospital's roster (code ``not-on-roster``)."""

    code = "not-on-roster"


class LockedOut(HealthLinkError):
    """Too many failed sign-ins (code ``locked``)."""

    code = "locked"
    status = 429


class SignInExpired(InvalidInput):
    """A sign-in came back to ``/callback`` without one pending in this browser (it took
    longer than 10 minutes, or was started elsewhere; code ``signin-expired``)."""

    code = "signin-expired"


class SignInState(InvalidInput):
    """The ``state`` that came back is not the one sent (code ``signin-state``)."""

    code = "signin-state"


class SignInDenied(Forbidden):
    """The physician cancelled at the sign-in service (``access_denied``; code
    ``signin-denied``)."""

    code = "signin-denied"


class SignInFailed(HealthLinkError):
    """The sign-in service refused the request or the code, or did not answer (code
    ``signin-failed``)."""

    code = "signin-failed"
    status = 502


class NotSignedIn(Unauthorized):
    """No session, or it ended (code ``signed-out``)."""

    code = "signed-out"


class BadCid(InvalidInput):
    """Not 13 digits with a right check digit (code ``invalid-cid``)."""

    code = "invalid-cid"


class CsrfRefused(Forbidden):
    """A POST without the page's CSRF token, or from another origin (code ``csrf``)."""

    code = "csrf"


class QueryUnavailable(Transient):
    """The query service does not answer (code ``unavailable``)."""

    code = "unavailable"


class Unavailable(Transient):
    """A patient portal's back end (consent, audit, notify) does not answer, or answered
    what the portal cannot use (code ``unavailable``)."""

    code = "unavailable"


__all__ = [
    "BadCid",
    "CsrfRefused",
    "LockedOut",
    "NotOnRoster",
    "NotSignedIn",
    "QueryUnavailable",
    "Refused",
    "SignInDenied",
    "SignInExpired",
    "SignInFailed",
    "SignInRefused",
    "SignInState",
    "Unavailable",
]


class SmartRequired(Forbidden):
    """My record needs the auth service's sign-in's token (code ``smart-required``)."""

    code = "smart-required"
