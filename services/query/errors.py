"""Query errors beyond the shared hierarchy (``shared.errors``)."""

from __future__ import annotations

from shared.errors import Rejected, Transient


class LockedOut(Rejected):
    """Too many failed sign-ins for a licence: refused until the lockout ends (429)."""

    code = "throttled"
    status = 429


class NotAcceptable(Rejected):
    """A FHIR format this server does not serve (XML, say): 406."""

    code = "not-supported"
    status = 406


class ChartsBehind(Transient):
    """The charts have not yet merged what was stored before this read began (503,
    Retry-After): answered instead of fewer records than were announced."""
