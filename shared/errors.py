"""The error hierarchy shared by every service.

    HealthLinkError
    ├── Rejected          bad input: never retried; HTTP 4xx or a dead letter
    │   ├── InvalidInput        400
    │   ├── Unauthorized        401
    │   ├── Forbidden           403
    │   ├── NotFound            404
    │   └── Conflict            409
    └── Transient         the broker or database did not answer: retry later

A service subclasses these for its own domain errors; the HTTP edge maps them to a
status and an OperationOutcome once (``shared.http``), and the Kafka edge sets a
``Rejected`` message aside with its ``code`` as the reason (``shared.consumer``).
"""

from __future__ import annotations


class HealthLinkError(Exception):
    """Base of every error this project raises on purpose."""

    code = "error"
    status = 500

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class Rejected(HealthLinkError):
    """The input can never succeed as it is."""

    code = "rejected"
    status = 400


class InvalidInput(Rejected):
    code = "invalid"
    status = 400


class Unauthorized(Rejected):
    code = "login"
    status = 401


class Forbidden(Rejected):
    code = "forbidden"
    status = 403


class NotFound(Rejected):
    code = "not-found"
    status = 404


class Conflict(Rejected):
    code = "conflict"
    status = 409


class Transient(HealthLinkError):
    """A dependency is unavailable; the same input may succeed later."""

    code = "transient"
    status = 503
    retry_after_s = 1  # the Retry-After the HTTP edge answers with
