"""Consent errors, each mapped to its HTTP status by the shared error map.

NotFound    PatientNotFound, HospitalNotFound, VisitNotFound (domain.py), SigningKeyNotFound
Conflict    AlreadyRegistered, HospitalAlreadyRegistered, RoleDowngrade, ConcurrentChange,
            KeyConflict
Rejected    TooManyAttempts (429), VerificationFailed (401)
"""

from __future__ import annotations

from shared.errors import Conflict, NotFound, Rejected

REFUSED_TH = "ขออภัยค่ะ ท่านระบุข้อมูลไม่ถูกต้องเกิน 5 ครั้ง กรุณาทำรายการใหม่อีกครั้งในวันถัดไป"
REFUSED_EN = "Sorry, you entered incorrect data more than 5 times. Please try again tomorrow."


class PatientNotFound(NotFound):
    code = "patient-not-found"


class HospitalNotFound(NotFound):
    code = "hospital-not-found"


class SigningKeyNotFound(NotFound):
    code = "signing-key-not-found"


class KeyConflict(Conflict):
    """Another key under a ``kid`` in use, or too many signing keys."""

    code = "key-conflict"


class AlreadyRegistered(Conflict):
    code = "already-registered"


class HospitalAlreadyRegistered(Conflict):
    code = "hospital-registered"


class RoleDowngrade(Conflict):
    code = "role-downgrade"


class ConcurrentChange(Conflict):
    code = "concurrent-change"


class TooManyAttempts(Rejected):
    """The sixth attempt of a Bangkok day: refused with the FAQ's message."""

    code = "too-many-attempts"
    status = 429

    def __init__(self) -> None:
        super().__init__(f"{REFUSED_TH} / {REFUSED_EN}")


class VerificationFailed(Rejected):
    code = "verification-failed"
    status = 401
