"""Who may do what on Kafka: one declarative table, derived from the event catalogue.

Every service connects as its own principal (``User:<service>``); each row says which
topics it writes (and so creates), which it reads, and its consumer group. The
platform applies the table at infrastructure start (``healthlink kafka apply-acls``,
run by ``deploy/local/infra.sh up``) and, for a test session's topic prefix, from the
test fixtures. Hospitals get theirs at onboarding (``hospital_acls``): write the upload
topic, read only their own data-request topic, in their own consumer groups.

Kafka's StandardAuthorizer runs with ``allow.everyone.if.no.acl.found=false``: what is
not here is refused. ``tests/unit/test_kafka_acl.py`` checks the table against the
catalogue (each event type's topic is written by exactly the services that publish it)
and the services' subscriptions. See docs/kafka-security.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from healthlink_adapter import contract

from shared import topics


class Resource(IntEnum):
    """Kafka's resource types (wire codes)."""

    TOPIC = 2
    GROUP = 3
    CLUSTER = 4


class Pattern(IntEnum):
    """Kafka's resource pattern types (wire codes)."""

    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    """Kafka's ACL operations (wire codes)."""

    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8


ALLOW = 3  # permission type
ANY_HOST = "*"


@dataclass(frozen=True)
class Acl:
    """One ACL binding: ``principal`` may ``operation`` on a resource (allow, any host)."""

    resource: Resource
    name: str
    pattern: Pattern
    principal: str  # "User:<name>"
    operation: Operation


@dataclass(frozen=True)
class Grants:
    """What one service principal may do (topic and group names without the prefix)."""

    principal: str
    writes: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    writes_prefixed: tuple[str, ...] = ()  # topic name prefixes (per-hospital topics)
    reads_prefixed: tuple[str, ...] = ()


# Every service sets aside what it cannot handle, and an operator's retry through its
# API notes the retry: each writes and reads the dead-letter topics. Every operator
# action through a service's API is a security event (shared/operators.py): each
# writes the security topic.
DEAD = (topics.DEAD_LETTERS, topics.DEAD_LETTER_RETRIES)
ACTED = (topics.SECURITY_EVENTS,)
# Per-hospital data-request topics: DATA_REQUESTS + "." + hospital code.
HOSPITAL_REQUESTS_PREFIX = contract.DATA_REQUESTS + "."

# Service principals. Only consent writes consent and hospital events (and the data
# requests); only query writes access events; ingest alone writes what it stored.
SERVICES: dict[str, Grants] = {
    "consent": Grants(
        "consent",
        writes=(topics.CONSENT_EVENTS, topics.HOSPITAL_EVENTS, *ACTED, *DEAD),
        reads=(topics.CONSENT_EVENTS, topics.HOSPITAL_EVENTS, *DEAD),
        groups=("consent",),
        writes_prefixed=(HOSPITAL_REQUESTS_PREFIX,),
    ),
    "ingest": Grants(
        "ingest",
        # uploads: the HTTP gateway (POST /fhir) publishes them, retries send them back
        writes=(topics.INGEST_UPLOADS, topics.INGEST_RECORDS, topics.INGEST_STORED, *ACTED, *DEAD),
        reads=(topics.INGEST_UPLOADS, topics.CONSENT_EVENTS, topics.HOSPITAL_EVENTS, *DEAD),
        # ingest.subscriptions: delivery of data requests to subscribed hospitals
        # (services/ingest/delivery.py), in a group of its own (a pattern subscription)
        groups=("ingest", "ingest.subscriptions"),
        # the data-request door for hospitals that poll over HTTP (services/ingest/datarequests.py)
        reads_prefixed=(HOSPITAL_REQUESTS_PREFIX,),
    ),
    "query": Grants(
        "query",
        writes=(topics.ACCESS_EVENTS, topics.SECURITY_EVENTS, *DEAD),
        reads=(topics.CONSENT_EVENTS, topics.HOSPITAL_EVENTS, topics.INGEST_STORED, *DEAD),
        groups=("query",),
    ),
    "audit": Grants(
        "audit",
        writes=(topics.AUDIT_HEADS, *ACTED, *DEAD),  # only audit signs and publishes heads
        reads=(
            topics.ACCESS_EVENTS,
            topics.SECURITY_EVENTS,
            topics.CONSENT_EVENTS,
            topics.HOSPITAL_EVENTS,
            *DEAD,
        ),
        groups=("audit",),
    ),
    "notify": Grants(
        "notify",
        writes=(*ACTED, *DEAD),
        reads=(
            topics.ACCESS_EVENTS,
            topics.CONSENT_EVENTS,
            topics.HOSPITAL_EVENTS,
            topics.INGEST_RECORDS,
            *DEAD,
        ),
        groups=("notify",),
    ),
    "auth": Grants(
        "auth",
        writes=(topics.SECURITY_EVENTS, topics.IDENTITY_EVENTS, *DEAD),
        reads=(topics.CONSENT_EVENTS, topics.HOSPITAL_EVENTS, *DEAD),
        groups=("auth",),
    ),
}

EVERY_TOPIC = tuple(dict.fromkeys((*topics.ALL, topics.DEAD_LETTER_RETRIES)))

# The command line's read-only tools (dlq list/show, replay, offsets, audit verify):
# read every topic, and the services' groups (replay resets a stopped service's offsets).
OPERATOR = Grants(
    "operator",
    reads=EVERY_TOPIC,
    groups=tuple(SERVICES),
    writes_prefixed=(),
)

PRINCIPALS: dict[str, Grants] = {**SERVICES, "operator": OPERATOR}


def writers_of(topic: str) -> list[str]:
    """The services that may write ``topic`` (a name without the prefix): who retries a
    dead letter from it (shared/admin.py). Hospitals aside."""
    return [
        name
        for name, grants in SERVICES.items()
        if topic in grants.writes or any(topic.startswith(p) for p in grants.writes_prefixed)
    ]


def user(principal: str) -> str:
    return f"User:{principal}"


def grants_acls(grants: Grants, prefix: str = "") -> list[Acl]:
    """The ACL bindings of one row, for topics and groups under ``prefix``."""
    who = user(grants.principal)
    acls: list[Acl] = []
    for topic in grants.writes:
        for op in (Operation.WRITE, Operation.DESCRIBE, Operation.CREATE):
            acls.append(Acl(Resource.TOPIC, prefix + topic, Pattern.LITERAL, who, op))
    for topic in grants.writes_prefixed:
        for op in (Operation.WRITE, Operation.DESCRIBE, Operation.CREATE):
            acls.append(Acl(Resource.TOPIC, prefix + topic, Pattern.PREFIXED, who, op))
    for topic in grants.reads:
        for op in (Operation.READ, Operation.DESCRIBE):
            acls.append(Acl(Resource.TOPIC, prefix + topic, Pattern.LITERAL, who, op))
    for topic in grants.reads_prefixed:
        for op in (Operation.READ, Operation.DESCRIBE):
            acls.append(Acl(Resource.TOPIC, prefix + topic, Pattern.PREFIXED, who, op))
    for group in grants.groups:
        for op in (Operation.READ, Operation.DESCRIBE):
            acls.append(Acl(Resource.GROUP, prefix + group, Pattern.LITERAL, who, op))
    return list(dict.fromkeys(acls))


def platform_acls(prefix: str = "") -> list[Acl]:
    """Every service's and the operator's ACL bindings (topics under ``prefix``)."""
    return [acl for grants in PRINCIPALS.values() for acl in grants_acls(grants, prefix)]


def hospital_principal(code: str) -> str:
    """A hospital's Kafka principal: ``hospital-<code>``."""
    if not contract.is_hospital_code(code):
        raise ValueError(f"not a hospital code: {code!r}")
    return f"hospital-{code}"


def hospital_grants(code: str) -> Grants:
    """A hospital writes the upload topic and reads only its own data requests, in
    consumer groups named ``hospital-<code>`` (a prefix: ``hospital-<code>-…`` too)."""
    return Grants(
        hospital_principal(code),
        writes=(topics.INGEST_UPLOADS,),
        reads=(contract.DATA_REQUESTS + "." + code,),
    )


def hospital_acls(code: str, prefix: str = "") -> list[Acl]:
    grants = hospital_grants(code)
    who = user(grants.principal)
    acls = [a for a in grants_acls(grants, prefix) if a.operation != Operation.CREATE]
    group = contract.consumer_group(code, prefix)
    for op in (Operation.READ, Operation.DESCRIBE):
        acls.append(Acl(Resource.GROUP, group, Pattern.PREFIXED, who, op))
    return acls


def table() -> list[tuple[str, str, str, str]]:
    """(principal, writes, reads, groups) rows for the documentation."""
    rows = []
    for grants in PRINCIPALS.values():
        writes = [*grants.writes, *(p + "*" for p in grants.writes_prefixed)]
        reads = [*grants.reads, *(p + "*" for p in grants.reads_prefixed)]
        rows.append(
            (
                grants.principal,
                ", ".join(writes) or "–",
                ", ".join(reads) or "–",
                ", ".join(grants.groups) or "–",
            )
        )
    sample = hospital_grants("10670")
    rows.append(
        (
            "hospital-<code>",
            ", ".join(sample.writes),
            contract.DATA_REQUESTS + ".<code>",
            "hospital-<code>* (prefixed)",
        )
    )
    return rows
