"""The wire contract between a hospital and Health Link, defined once.

Everything a hospital's system and the platform must agree on is here: the
topics a hospital writes and reads, the headers on an upload, the size limit,
the identifier systems in a bundle. The platform imports these names (its topic
table, ingest's checks, its settings' defaults), so the two sides cannot drift.
"""

from __future__ import annotations

# Topics a hospital uses; every topic name may carry a prefix (tests use a unique one).
UPLOADS = "healthlink.ingest.uploads"  # hospital -> platform: FHIR Bundles (key: CID)
DATA_REQUESTS = "healthlink.consent.datarequests"  # platform -> hospital (key: hospital code)

# Upload headers (Kafka record headers, or HTTP request headers on ``POST /fhir``).
HOSPITAL_HEADER = "hl-hospital"  # the sender's 5-digit hospital code
SIGNATURE_HEADER = "hl-signature"  # the body's signature (see ``signing``)
UPLOAD_ID_HEADER = "hl-upload-id"  # the sender's id for the upload, its receipt
REQUEST_ID_HEADER = "hl-request-id"  # the data request an upload answers, if any
CONTENT_TYPE_HEADER = "content-type"
CORRELATION_HEADER = "x-correlation-id"  # follows the upload through every service's logs
FHIR_JSON = "application/fhir+json"

# The largest upload body the platform accepts by default (its
# ``HEALTHLINK_MAX_BUNDLE_BYTES``); larger ones are refused (HTTP 413) or set aside.
MAX_UPLOAD_BYTES = 5_000_000
# Room for headers on top of a body in one Kafka record.
HEADERS_ALLOWANCE = 256 * 1024
# Records buffered per partition before a send waits (aiokafka's default is 16 kB): a
# bundle is larger than that, so with the default each went alone, one request in
# flight per partition; this lets those queued meanwhile share one request.
BATCH_BYTES = 512 * 1024  # well under the 1 MB a topic accepts by default

# Identifier systems in FHIR resources: a Patient's Thai national id (CID) is the
# partition key of its uploads; hospitals are named by their MOPH 5-digit code.
CID_SYSTEM = "https://terms.sil-th.org/id/th-cid"
HCODE_SYSTEM = "https://terms.sil-th.org/id/th-moph-hcode"
_DIGITS = frozenset("0123456789")


def cid_check_digit(first12: str) -> int:
    """The check digit of a CID from its first 12 digits."""
    if len(first12) != 12 or not _DIGITS.issuperset(first12):
        raise ValueError("expected exactly 12 ASCII digits")
    total = sum(int(d) * (13 - i) for i, d in enumerate(first12))
    return (11 - total % 11) % 10


def is_valid_cid(cid: str) -> bool:
    """True for 13 ASCII digits, first digit not 0, with a correct check digit."""
    if not isinstance(cid, str) or len(cid) != 13 or not _DIGITS.issuperset(cid):
        return False
    if cid[0] == "0":
        return False
    return cid_check_digit(cid[:12]) == int(cid[12])


def is_hospital_code(code: str) -> bool:
    """True for a 5-digit (ASCII) MOPH hospital code."""
    return isinstance(code, str) and len(code) == 5 and _DIGITS.issuperset(code)


def named(topic: str, prefix: str = "") -> str:
    """A topic's name under an optional prefix."""
    return f"{prefix}{topic}"


def record_limit(max_body_bytes: int) -> int:
    """The largest Kafka record an upload of ``max_body_bytes`` (and its headers) makes."""
    return max_body_bytes + HEADERS_ALLOWANCE


def data_requests_topic(hospital: str, prefix: str = "") -> str:
    """Where ``hospital``'s data requests are published: a topic of its own,
    ``healthlink.consent.datarequests.<code>``, which Kafka's ACLs let only that
    hospital (and the platform) read. No other hospital's requests reach a reader."""
    if not is_hospital_code(hospital):
        raise ValueError(f"not a 5-digit hospital code: {hospital!r}")
    return named(f"{DATA_REQUESTS}.{hospital}", prefix)


def consumer_group(hospital: str, prefix: str = "") -> str:
    """The consumer group a hospital reads its data requests in: ``hospital-<code>``."""
    return f"{prefix}hospital-{hospital}"
