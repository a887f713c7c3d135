"""Consent errors, each mapped to its HTTP status by the shared error map."""

from __future__ import annotations

from shared.errors import Conflict, NotFound


class PatientNotFound(NotFound):
    code = "patient-not-found"


class HospitalNotFound(NotFound):
    code = "hospital-not-found"


class AlreadyRegistered(Conflict):
    code = "already-registered"


class ConcurrentChange(Conflict):
    code = "concurrent-change"
