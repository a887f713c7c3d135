"""The ACL table (shared/acl.py) against the event catalogue and the services' subscriptions."""

from __future__ import annotations

from healthlink.apidocs import consumed_by
from shared import acl, topics
from shared.acl import Operation, Pattern, Resource


def writers(topic: str) -> set[str]:
    return {name for name, grants in acl.SERVICES.items() if topic in grants.writes}


def test_only_the_owner_writes_consent_hospital_and_access_events() -> None:
    assert writers(topics.CONSENT_EVENTS) == {"consent"}
    assert writers(topics.HOSPITAL_EVENTS) == {"consent"}
    assert writers(topics.ACCESS_EVENTS) == {"query"}
    assert writers(topics.INGEST_STORED) == writers(topics.INGEST_RECORDS) == {"ingest"}
    assert writers(topics.IDENTITY_EVENTS) == {"auth"}
    assert acl.OPERATOR.writes == () and acl.OPERATOR.writes_prefixed == ()


def may_read(service: str, topic: str) -> bool:
    """A topic by name, or a family of topics (one per hospital) by its prefix."""
    grants = acl.SERVICES[service]
    return topic in grants.reads or topic + "." in grants.reads_prefixed


def test_every_service_may_read_what_it_subscribes_to() -> None:
    for topic, services in consumed_by().items():
        for service in services:
            assert may_read(service, topic), (service, topic)
    assert "ingest.subscriptions" in acl.SERVICES["ingest"].groups  # delivery's own group


def test_every_platform_topic_has_a_writer() -> None:
    for topic in (*topics.ALL, topics.DEAD_LETTER_RETRIES):
        if topic == topics.DATA_REQUESTS:  # one topic per hospital now, by prefix
            assert any(
                p.startswith(topics.DATA_REQUESTS + ".")
                for p in acl.SERVICES["consent"].writes_prefixed
            )
            continue
        assert writers(topic), topic


def test_acls_are_scoped_to_a_prefix() -> None:
    bindings = acl.platform_acls("t1.")
    assert bindings and all(b.name.startswith("t1.") for b in bindings)
    assert all(b.principal.startswith("User:") for b in bindings)


def test_a_hospital_writes_uploads_and_reads_only_its_own_requests() -> None:
    bindings = acl.hospital_acls("10670", "p.")
    writes = {(b.name, b.pattern) for b in bindings if b.operation == Operation.WRITE}
    assert writes == {("p." + topics.INGEST_UPLOADS, Pattern.LITERAL)}
    reads = {(b.resource, b.name, b.pattern) for b in bindings if b.operation == Operation.READ}
    assert reads == {
        (Resource.TOPIC, f"p.{topics.DATA_REQUESTS}.10670", Pattern.LITERAL),
        (Resource.GROUP, "p.hospital-10670", Pattern.PREFIXED),
    }
    assert not [b for b in bindings if b.operation == Operation.CREATE]
    assert {b.principal for b in bindings} == {"User:hospital-10670"}
