"""The platform's topics as Kafka holds them: partitions, replication, retention.

``topic_specs`` lists every platform topic with its configs; ``ensure_topics`` creates
the ones a service writes when it starts (``Runtime.running``), ``create_topics`` any
list as a given principal (``healthlink kafka apply-acls``, hospital logins). Existing
topics are left as they are.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared import acl, topics
from shared.broker import max_message_bytes
from shared.kafka_client import ADMIN, client_options, password_of
from shared.settings import Settings
from shared.topics import data_requests_topic, named

# Source-of-truth topics keep every event (replay rebuilds any projection from them);
# data requests are commands that go stale; the retry log keeps the latest per letter.
FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    topics.CONSENT_EVENTS: FOREVER,
    topics.HOSPITAL_EVENTS: FOREVER,
    topics.INGEST_UPLOADS: FOREVER,
    topics.INGEST_RECORDS: FOREVER,
    topics.INGEST_STORED: FOREVER,
    topics.ACCESS_EVENTS: FOREVER,
    topics.SECURITY_EVENTS: FOREVER,
    topics.IDENTITY_EVENTS: FOREVER,
    topics.DEAD_LETTERS: FOREVER,
    topics.AUDIT_HEADS: FOREVER,
    topics.DATA_REQUESTS: {"retention.ms": str(30 * 24 * 3600 * 1000), "cleanup.policy": "delete"},
    topics.DEAD_LETTER_RETRIES: {"retention.ms": "-1", "cleanup.policy": "compact"},
}
LARGE_TOPICS = (topics.INGEST_UPLOADS, topics.DEAD_LETTERS)  # carry whole FHIR bundles
TOPIC_EXISTS = 36  # Kafka error code TOPIC_ALREADY_EXISTS


def topic_specs(settings: Settings) -> list[NewTopic]:
    """Every platform topic with its partitions, replication and configs."""
    names = dict.fromkeys([*topics.ALL, *TOPIC_CONFIGS])
    replication = settings.topic_replication
    specs = []
    for name in names:
        configs = dict(TOPIC_CONFIGS.get(name, FOREVER))
        configs["min.insync.replicas"] = str(min(2, max(1, replication - 1)))
        if name in LARGE_TOPICS:
            configs["max.message.bytes"] = str(max_message_bytes(settings))
        specs.append(
            NewTopic(
                named(name, settings.topic_prefix),
                num_partitions=settings.topic_partitions,
                replication_factor=replication,
                topic_configs=configs,
            )
        )
    return specs


def hospital_topic_spec(settings: Settings, code: str) -> NewTopic:
    """A hospital's own data-request topic (``DATA_REQUESTS.<code>``)."""
    return NewTopic(
        data_requests_topic(code, settings.topic_prefix),
        num_partitions=1,  # one reader, the hospital; its requests stay in order
        replication_factor=settings.topic_replication,
        topic_configs={
            **TOPIC_CONFIGS[topics.DATA_REQUESTS],
            "min.insync.replicas": str(min(2, max(1, settings.topic_replication - 1))),
        },
    )


async def ensure_topics(settings: Settings, service: str | None = None) -> list[str]:
    """Create the platform's topics that do not exist yet; returns the ones created.

    ``service`` connects as that service's principal and, on a broker with ACLs (the
    service has a credential), creates only the topics it writes (shared/acl.py); the
    others are its writers' (and ``healthlink kafka apply-acls`` creates them all)."""
    specs = topic_specs(settings)
    principal = ADMIN
    if service is not None:
        principal = service
        if password_of(settings, service) is not None:
            owned = {named(t, settings.topic_prefix) for t in acl.SERVICES[service].writes}
            specs = [spec for spec in specs if spec.name in owned]
    return await create_topics(settings, specs, principal)


async def create_topics(settings: Settings, specs: list[NewTopic], principal: str) -> list[str]:
    """Create these topics as ``principal``, accepting "already exists"."""
    if not specs:
        return []
    admin = AIOKafkaAdminClient(**client_options(settings, principal))
    await admin.start()
    try:
        # Ask to create them all and accept "already exists": listing every topic of a
        # large cluster is slower (and times out on a broker with many thousands).
        response = await admin.create_topics(specs)
        created = []
        for result in response.topic_errors:
            name, code = result[0], result[1]
            if code == 0:
                created.append(name)
            elif code != TOPIC_EXISTS:  # another instance may have won the race
                raise RuntimeError(f"could not create topic {name}: Kafka error {code}")
        return created
    finally:
        await admin.close()
