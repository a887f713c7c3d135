"""Every Kafka topic name, in one place (lower-case, dots).

Keys: patient events and uploads are keyed by CID so one patient's events stay in
order on one partition; hospital events are keyed by the hospital code.
"""

from __future__ import annotations

CONSENT_EVENTS = "healthlink.consent.events"
HOSPITAL_EVENTS = "healthlink.hospital.events"
INGEST_UPLOADS = "healthlink.ingest.uploads"
INGEST_RECORDS = "healthlink.ingest.records"
# What ingest stored, resource by resource (key: CID): the change stream read models
# (the query service's charts) are built from, so no service reads ingest's database.
INGEST_STORED = "healthlink.ingest.stored"
ACCESS_EVENTS = "healthlink.access.events"
DEAD_LETTERS = "healthlink.deadletter"


def named(topic: str, prefix: str = "") -> str:
    """The topic's name under an optional prefix (tests use a unique prefix each)."""
    return f"{prefix}{topic}"


# Sign-ins, failed sign-ins, lock-outs, roster changes, break-glass declarations, operator
# actions (key: licence, CID, or the operator).
SECURITY_EVENTS = "healthlink.security.events"
# Data requests: a consent newly covers a provider, which is asked to send (key: hospital).
DATA_REQUESTS = "healthlink.consent.datarequests"
# Identity states from the auth service, versioned full state (key: licence or hospital).
IDENTITY_EVENTS = "healthlink.identity.events"

ALL = (
    CONSENT_EVENTS,
    HOSPITAL_EVENTS,
    INGEST_UPLOADS,
    INGEST_RECORDS,
    INGEST_STORED,
    ACCESS_EVENTS,
    DEAD_LETTERS,
    SECURITY_EVENTS,
    DATA_REQUESTS,
    IDENTITY_EVENTS,
)

# Operators' retries of dead letters (key: dead-letter id; compacted: latest retry per letter).
DEAD_LETTER_RETRIES = "healthlink.deadletter.retries"
