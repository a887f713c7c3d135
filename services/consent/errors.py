"""Consent errors, each mapped to its HTTP status by the shared error map.

NotFound    PatientNotFound, HospitalNotFound, VisitNotFound (domain.py)
Conflict    AlreadyRegistered, HospitalAlreadyRegistered, RoleDowngrade, ConcurrentChange
Rejected    TooManyAttempts (429), VerificationFailed (401) (verification.py)
"""

from __future__ import annotations

from shared.errors import Conflict, NotFound


class PatientNotFound(NotFound):
    code = "patient-not-found"


class HospitalNotFound(NotFound):
    code = "hospital-not-found"


class AlreadyRegistered(Conflict):
    code = "already-registered"


class HospitalAlreadyRegistered(Conflict):
    code = "hospital-registered"


class RoleDowngrade(Conflict):
    code = "role-downgrade"


class ConcurrentChange(Conflict):
    code = "concurrent-change"
