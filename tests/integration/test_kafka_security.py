"""Kafka's own authentication and authorization, on the real broker (docs/kafka-security.md).

Every listener wants SASL/SCRAM; the StandardAuthorizer refuses what the ACL table
(shared/acl.py) does not grant. A client with no credentials is refused; a hospital
writes only uploads and reads only its own data requests; a service writes only what
it owns; so a forged consent event never reaches a projection.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from healthlink_adapter import DataRequestReader, KafkaUploader
from healthlink_adapter.kafka import KafkaConnection
from pymongo import AsyncMongoClient

from healthlink.synthetic import make_patient_bundle
from services.consent.consents import data_request
from shared import acl, topics
from shared.cid import random_cid
from shared.database import Document
from shared.events import ConsentGranted, topic_of
from shared.kafka_admin import (
    admin_client,
    describe_acls,
    drop_prefix,
    hospital_connection,
    revoke_hospital,
)
from shared.kafka_client import ADMIN, client_options, connection
from shared.settings import Settings
from tests.support.credentials import signer
from tests.support.events import envelope
from tests.support.inprocess import running
from tests.support.journey import eventually
from tests.support.kafka import publish_raw, read_events

pytestmark = pytest.mark.integration
MINE, OTHER = "10670", "13781"


@pytest.fixture(autouse=True)
def needs_sasl(settings: Settings) -> None:
    if not settings.kafka_credentials:
        pytest.skip("the broker runs without authentication (no HEALTHLINK_KAFKA_CREDENTIALS)")


def consent_event(cid: str, codes: list[str], version: int) -> bytes:
    state = {"all_hospitals": False, "hospitals": codes, "allow_sensitive": True, "per_visit": []}
    event = envelope(ConsentGranted.model_validate({"version": version, "state": state}), cid)
    return event.model_dump_json().encode()


async def refused_write(conn: KafkaConnection | dict[str, Any], topic: str) -> KafkaError:
    """Send one record as a principal; return the error the broker answered."""
    options = conn.client_options() if isinstance(conn, KafkaConnection) else conn
    producer = AIOKafkaProducer(**options, request_timeout_ms=10_000)
    await producer.start()
    try:
        with pytest.raises(KafkaError) as refused:
            await producer.send_and_wait(topic, b"{}", key=b"x")
        return refused.value
    finally:
        await producer.stop()


TOPIC_AUTHORIZATION_FAILED = 29


async def describe_error(conn: KafkaConnection, topic: str) -> int:
    """The error the broker answers ``conn``'s principal describing ``topic`` (0: none).

    READ implies DESCRIBE in Kafka's authorizer, so a refused describe means the
    principal has no READ either (and aiokafka's consumer, refused, only logs and
    retries: it never raises)."""
    admin = AIOKafkaAdminClient(**conn.client_options(), request_timeout_ms=10_000)
    await admin.start()
    try:
        [found] = await admin.describe_topics([topic])
        return int(found["error_code"])
    finally:
        await admin.close()


async def group_refused(conn: KafkaConnection, group: str) -> bool:
    admin = AIOKafkaAdminClient(**conn.client_options(), request_timeout_ms=10_000)
    await admin.start()
    try:
        await admin.list_consumer_group_offsets(group)
    except GroupAuthorizationFailedError:
        return True
    finally:
        await admin.close()
    return False


async def test_a_client_without_credentials_is_refused(settings: Settings) -> None:
    bare = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=3000)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(bare.start(), 20)
    await bare.stop()
    wrong = connection(settings, "consent", password="not-the-password")
    guesser = AIOKafkaProducer(**wrong.client_options(), request_timeout_ms=3000)
    with pytest.raises(KafkaError):
        await asyncio.wait_for(guesser.start(), 20)
    await guesser.stop()


async def test_a_hospital_writes_uploads_and_reads_only_its_own_requests(
    settings: Settings,
) -> None:
    prefix = settings.topic_prefix
    mine = await hospital_connection(settings, MINE)
    await hospital_connection(settings, OTHER)
    if settings.kafka_hospital_bootstrap:  # hospitals come in over TLS, checked with the CA
        assert (mine.security_protocol, mine.bootstrap) == (
            "SASL_SSL",
            settings.kafka_hospital_bootstrap,
        )
    cid = random_cid(random.Random(7))
    for code in (MINE, OTHER):
        request = data_request(cid, code, "consent.granted", f"req-{code}", _now())
        await publish_raw(settings, topic_of(request), request.model_dump_json().encode(),
                          key=code.encode())  # fmt: skip

    # What it may: upload, and read its own requests in its own group.
    async with KafkaUploader(mine, MINE, signer(MINE), prefix) as uploader:
        bundle = make_patient_bundle(random.Random(1), cid=cid, hospital_code=MINE, n_resources=2)
        await uploader.send(bundle, "up-1")
    async with DataRequestReader(mine, MINE, prefix) as reader:
        got = await asyncio.wait_for(anext(reader), 30)
        assert (got.id, got.hospital) == (f"req-{MINE}", MINE)

    # What it may not: a consent event, another hospital's requests, any service topic.
    refused = await refused_write(mine, topics.named(topics.CONSENT_EVENTS, prefix))
    assert isinstance(refused, TopicAuthorizationFailedError)
    refused = await refused_write(mine, topics.named(topics.HOSPITAL_EVENTS, prefix))
    assert isinstance(refused, TopicAuthorizationFailedError)
    other_requests = topics.data_requests_topic(OTHER, prefix)
    assert await describe_error(mine, other_requests) == TOPIC_AUTHORIZATION_FAILED
    assert await describe_error(mine, topics.data_requests_topic(MINE, prefix)) == 0
    for service_topic in (*topics.ALL, topics.DEAD_LETTER_RETRIES):
        error = await describe_error(mine, topics.named(service_topic, prefix))
        if service_topic == topics.INGEST_UPLOADS:
            assert error == 0  # it writes there (WRITE implies DESCRIBE) ...
            continue
        assert error == TOPIC_AUTHORIZATION_FAILED, service_topic
    # ... but may not read the uploads (other hospitals' records): its read is refused
    # on the fetch, which aiokafka only logs, so the check is the ACL table's.
    async with admin_client(settings) as admin:
        bindings = await describe_acls(admin, acl.user(acl.hospital_principal(MINE)))
    reads = {
        name
        for _type, name, _pattern, op in bindings
        if op == acl.Operation.READ and name.startswith(prefix)
    }
    assert reads == {topics.data_requests_topic(MINE, prefix), f"{prefix}hospital-{MINE}"}
    # Nor a service's consumer group (it would move the service's offsets).
    assert await group_refused(mine, f"{prefix}ingest")


async def test_a_service_cannot_write_a_topic_it_does_not_own(settings: Settings) -> None:
    prefix = settings.topic_prefix
    for service, topic in (
        ("query", topics.CONSENT_EVENTS),
        ("ingest", topics.CONSENT_EVENTS),
        ("notify", topics.HOSPITAL_EVENTS),
        ("ingest", topics.ACCESS_EVENTS),
        ("audit", topics.ACCESS_EVENTS),
        ("auth", topics.INGEST_STORED),
    ):
        refused = await refused_write(client_options(settings, service), prefix + topic)
        assert isinstance(refused, TopicAuthorizationFailedError), (service, topic)
    # and each service's own topic is writable: consent writes consent events
    producer = AIOKafkaProducer(**client_options(settings, "consent"))
    await producer.start()
    try:
        await producer.send_and_wait(prefix + topics.CONSENT_EVENTS, b"{}", key=b"probe")
    finally:
        await producer.stop()


@pytest.fixture
async def ingest(settings: Settings) -> AsyncIterator[Any]:
    async with running("ingest", settings):
        client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_url, tz_aware=True)
        try:
            yield client[settings.db_name("ingest")]
        finally:
            await client.close()


async def test_a_forged_consent_event_never_reaches_a_projection(
    settings: Settings, ingest: Any
) -> None:
    prefix = settings.topic_prefix
    victim, witness = random_cid(random.Random(11)), random_cid(random.Random(12))
    forged = consent_event(victim, [MINE], version=1_000_000)
    consent_topic = topics.named(topics.CONSENT_EVENTS, prefix)
    forgers = [
        (await hospital_connection(settings, MINE)).client_options(),
        client_options(settings, "query"),
        client_options(settings, "ingest"),
    ]
    for options in forgers:
        producer = AIOKafkaProducer(**options, request_timeout_ms=10_000)
        await producer.start()
        try:
            with pytest.raises(TopicAuthorizationFailedError):
                await producer.send_and_wait(consent_topic, forged, key=victim.encode())
        finally:
            await producer.stop()
    # The consent service's own event (after the forgeries) reaches ingest's projection ...
    producer = AIOKafkaProducer(**client_options(settings, "consent"), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            consent_topic, consent_event(witness, [MINE], 1), key=witness.encode()
        )
    finally:
        await producer.stop()

    async def applied() -> bool:
        return await ingest.consent_view.count_documents({"_id": witness}) == 1

    await eventually(applied, what="the consent service's event in ingest's consent view")
    # ... and nothing the forgers sent is on the topic or in the projection.
    assert await ingest.consent_view.count_documents({"_id": victim}) == 0
    on_topic = await read_events(settings, topics.CONSENT_EVENTS, at_least=2, timeout_s=3)
    assert [key for key, _ in on_topic] == [witness]


async def test_a_revoked_hospital_can_no_longer_connect(settings: Settings) -> None:
    code = "99999"
    conn = await hospital_connection(settings, code)
    principal = acl.user(acl.hospital_principal(code))
    async with admin_client(settings) as admin:
        assert await describe_acls(admin, principal)
    had, removed = await revoke_hospital(settings, code)
    assert had and removed >= 4
    async with admin_client(settings) as admin:
        assert await describe_acls(admin, principal) == []
    producer = AIOKafkaProducer(**conn.client_options(), request_timeout_ms=3000)
    with pytest.raises(KafkaError):
        await asyncio.wait_for(producer.start(), 30)
    await producer.stop()
    await drop_prefix(settings, settings.topic_prefix)  # its cached login is forgotten too


async def test_every_principal_has_its_credential_and_admin_is_the_only_super_user(
    settings: Settings,
) -> None:
    for principal in acl.PRINCIPALS:
        producer = AIOKafkaProducer(**client_options(settings, principal))
        await producer.start()  # authenticates, or raises
        await producer.stop()
    # the admin may do anything: read a service's group offsets, say
    async with admin_client(settings, ADMIN) as admin:
        await admin.list_consumer_group_offsets(f"{settings.topic_prefix}query")


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
