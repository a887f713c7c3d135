"""The event catalogue: every event the platform publishes, one typed model per type
and version, used by every producer and consumer (``base.py`` tells how).

    envelope.py   the CloudEvents 1.0 envelope around every payload
    base.py       ``Event`` (name, version, topic), ``parse``, the ``CATALOGUE``
    consent.py    consent changes and patient events        CONSENT_EVENTS
    hospital.py   hospital changes                           HOSPITAL_EVENTS
    requests.py   data requests to provider hospitals        DATA_REQUESTS
    records.py    records received and stored by ingest      INGEST_RECORDS, INGEST_STORED
    access.py     one access event per patient request       ACCESS_EVENTS
    security.py   sign-ins, rosters, break-glass, operators  SECURITY_EVENTS
    identity.py   licences and rosters (versioned state)     IDENTITY_EVENTS
    audit.py      signed heads of the audit chains           AUDIT_HEADS

No event name is written anywhere else (``tests/unit/test_event_catalogue.py``).
"""

from shared.events.access import RecordAccessed
from shared.events.audit import AuditHeadSigned
from shared.events.base import CATALOGUE, Event, parse, topic_of
from shared.events.consent import (
    ConsentChanged,
    ConsentGranted,
    ConsentRevoked,
    PatientEvent,
    PatientRegistered,
    PerVisitExpired,
    PerVisitGranted,
    PerVisitRevoked,
    SensitiveChanged,
    VerificationEvent,
    VerificationFailed,
    VerificationRefused,
    VerificationSucceeded,
)
from shared.events.envelope import TYPE_PREFIX, Envelope, event_type, utcnow
from shared.events.hospital import (
    NEW_PROVIDER,
    HospitalBecameProvider,
    HospitalChanged,
    HospitalCredentialsChanged,
    HospitalRegistered,
    HospitalUpdated,
)
from shared.events.identity import LicenceChanged, LicenceState, RosterChanged, RosterState
from shared.events.records import RecordsReceived, RecordsStored, StoredRecord
from shared.events.requests import DataRequested
from shared.events.security import (
    BreakGlassDeclared,
    OperatorActed,
    PatientSignedIn,
    PatientSignInFailed,
    PhysicianAdded,
    PhysicianLockedOut,
    PhysicianRemoved,
    PhysicianSignedIn,
    RefreshTokenReused,
    SecurityEvent,
    SignInFailed,
    TokenRevoked,
)

__all__ = [
    "CATALOGUE",
    "NEW_PROVIDER",
    "TYPE_PREFIX",
    "AuditHeadSigned",
    "BreakGlassDeclared",
    "ConsentChanged",
    "ConsentGranted",
    "ConsentRevoked",
    "DataRequested",
    "Envelope",
    "Event",
    "HospitalBecameProvider",
    "HospitalChanged",
    "HospitalCredentialsChanged",
    "HospitalRegistered",
    "HospitalUpdated",
    "LicenceChanged",
    "LicenceState",
    "OperatorActed",
    "PatientEvent",
    "PatientRegistered",
    "PatientSignInFailed",
    "PatientSignedIn",
    "PerVisitExpired",
    "PerVisitGranted",
    "PerVisitRevoked",
    "PhysicianAdded",
    "PhysicianLockedOut",
    "PhysicianRemoved",
    "PhysicianSignedIn",
    "RecordAccessed",
    "RecordsReceived",
    "RecordsStored",
    "RefreshTokenReused",
    "RosterChanged",
    "RosterState",
    "SecurityEvent",
    "SensitiveChanged",
    "SignInFailed",
    "StoredRecord",
    "TokenRevoked",
    "VerificationEvent",
    "VerificationFailed",
    "VerificationRefused",
    "VerificationSucceeded",
    "event_type",
    "parse",
    "topic_of",
    "utcnow",
]
