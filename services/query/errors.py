"""Query errors beyond the shared hierarchy (``shared.errors``)."""

from __future__ import annotations

from shared.errors import Rejected


class LockedOut(Rejected):
    """Too many failed sign-ins for a licence: refused until the lockout ends (429)."""

    code = "throttled"
    status = 429


class NotAcceptable(Rejected):
    """A FHIR format this server does not serve (XML, say): 406."""

    code = "not-supported"
    status = 406
