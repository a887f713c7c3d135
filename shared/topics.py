"""Every Kafka topic name, in one place (lower-case, dots).

Keys: patient events and uploads are keyed by CID so one patient's events stay in
order on one partition; hospital events are keyed by the hospital code.
"""

from __future__ import annotations

# The two topics hospitals use are part of the hospital wire contract (the adapter package).
from healthlink_adapter import contract
from healthlink_adapter.contract import DATA_REQUESTS as DATA_REQUESTS
from healthlink_adapter.contract import data_requests_topic as data_requests_topic
from healthlink_adapter.contract import named as named

INGEST_UPLOADS = contract.UPLOADS

CONSENT_EVENTS = "healthlink.consent.events"
HOSPITAL_EVENTS = "healthlink.hospital.events"
INGEST_RECORDS = "healthlink.ingest.records"
# What ingest stored, resource by resource (key: CID): the change stream read models
# (the query service's charts) are built from, so no service reads ingest's database.
INGEST_STORED = "healthlink.ingest.stored"
ACCESS_EVENTS = "healthlink.access.events"
DEAD_LETTERS = "healthlink.deadletter"


# Sign-ins, failed sign-ins, lock-outs, roster changes, break-glass declarations, operator
# actions (key: licence, CID, or the operator).
SECURITY_EVENTS = "healthlink.security.events"
# Identity states from the auth service, versioned full state (key: licence or hospital).
IDENTITY_EVENTS = "healthlink.identity.events"
# Signed heads of the audit log's hash chains (key: chain): only the audit service writes.
AUDIT_HEADS = "healthlink.audit.heads"
# Data requests (DATA_REQUESTS, above): a consent newly covers a provider, which is asked
# to send (key: hospital).

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
    AUDIT_HEADS,
)

# Operators' retries of dead letters (key: dead-letter id; compacted: latest retry per letter).
DEAD_LETTER_RETRIES = "healthlink.deadletter.retries"
