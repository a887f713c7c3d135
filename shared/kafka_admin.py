"""Kafka's ACL and SCRAM-credential administration, over aiokafka's protocol classes.

aiokafka (the platform's one Kafka client) has no high-level API for CreateAcls,
DeleteAcls or AlterUserScramCredentials, and adding kafka-python or confluent-kafka
only for these three calls would bring a second client library (confluent-kafka: a
native librdkafka wheel) into the lock. So they are implemented here over aiokafka's
wire-protocol classes (``aiokafka.protocol``): CreateAcls/DeleteAcls v1 (which aiokafka
defines) batched into one request each, and AlterUserScramCredentials v0 (API key 51,
KIP-554, a flexible version), whose structs are declared below. The client computes
the salted password (PBKDF2-HMAC-SHA-512, RFC 5802/7677) so the password itself never
travels to the broker.

``apply_platform`` is what ``healthlink kafka apply-acls`` (and ``infra.sh up``) runs:
every service principal's credential (a random password, kept in the credentials file),
the ACL table of ``shared/acl.py`` and the platform's topics.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)
from healthlink_adapter.kafka import KafkaConnection

from shared import acl
from shared.kafka_client import ADMIN, client_options, connection, password_of
from shared.settings import Settings

SCRAM_SHA_512 = 2  # AlterUserScramCredentials mechanism code
SCRAM_ITERATIONS = 8192  # Kafka's minimum for SHA-512 is 4096
RESOURCE_NOT_FOUND = 91  # deleting a credential that does not exist


class KafkaAdminError(RuntimeError):
    """The broker refused an administrative request."""


# --------------------------------------------------------------------------- protocol
class AlterUserScramCredentialsResponse_v0(Response):  # type: ignore[misc]
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(
                ("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields)
            ),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentials(Request[AlterUserScramCredentialsRequest_v0]):  # type: ignore[misc]
    API_KEY = 51

    def __init__(self, deletions: list[Any], upsertions: list[Any]) -> None:
        self._deletions = deletions
        self._upsertions = upsertions

    def build(
        self, request_struct_class: type[AlterUserScramCredentialsRequest_v0]
    ) -> AlterUserScramCredentialsRequest_v0:
        return request_struct_class(self._deletions, self._upsertions, {})


class CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]
    """Many creations in one request (aiokafka's ``CreateAclsRequest`` sends one)."""

    API_KEY = 30

    def __init__(self, creations: list[tuple[Any, ...]]) -> None:
        self._creations = creations

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(self._creations)


class DeleteAcls(Request[DeleteAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 31

    def __init__(self, filters: list[tuple[Any, ...]]) -> None:
        self._filters = filters

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class(self._filters)


class DescribeAcls(Request[DescribeAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 29

    def __init__(self, principal: str) -> None:
        self._principal = principal

    def build(self, request_struct_class: type[DescribeAclsRequest_v1]) -> DescribeAclsRequest_v1:
        # any resource type, any name, any pattern, this principal, any host/op/permission
        return request_struct_class(1, None, acl.Pattern.ANY, self._principal, None, 1, 1)


# --------------------------------------------------------------------------- operations
@asynccontextmanager
async def admin_client(settings: Settings, principal: str = ADMIN) -> AsyncIterator[Any]:
    """An aiokafka admin client connected as ``principal`` (default: the admin)."""
    admin = AIOKafkaAdminClient(**client_options(settings, principal), request_timeout_ms=30000)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def _send(admin: Any, request: Request[Any]) -> Any:
    return await admin._send_request(request)


def _row(binding: acl.Acl) -> tuple[Any, ...]:
    return (
        int(binding.resource),
        binding.name,
        int(binding.pattern),
        binding.principal,
        acl.ANY_HOST,
        int(binding.operation),
        acl.ALLOW,
    )


async def create_acls(admin: Any, bindings: Iterable[acl.Acl], chunk: int = 500) -> int:
    """Create ACL bindings (creating one that exists is harmless); returns how many."""
    rows = [_row(b) for b in dict.fromkeys(bindings)]
    for start in range(0, len(rows), chunk):
        response = await _send(admin, CreateAcls(rows[start : start + chunk]))
        for code, message in response.creation_responses:
            if code:
                raise KafkaAdminError(f"CreateAcls: error {code}: {message}")
    return len(rows)


async def delete_acls(admin: Any, bindings: Iterable[acl.Acl]) -> int:
    """Delete exactly these ACL bindings; returns how many matched."""
    rows = [_row(b) for b in dict.fromkeys(bindings)]
    if not rows:
        return 0
    response = await _send(admin, DeleteAcls(rows))
    deleted = 0
    for code, message, matching in response.filter_responses:
        if code:
            raise KafkaAdminError(f"DeleteAcls: error {code}: {message}")
        deleted += len(matching)
    return deleted


async def delete_principal_acls(admin: Any, principal: str) -> int:
    """Delete every ACL binding of ``principal`` (``User:…``); returns how many."""
    response = await _send(
        admin, DeleteAcls([(1, None, int(acl.Pattern.ANY), principal, None, 1, 1)])
    )
    return sum(len(matching) for _, _, matching in response.filter_responses)


async def describe_acls(admin: Any, principal: str) -> list[tuple[Any, ...]]:
    """(resource type, name, pattern, operation) of ``principal``'s ACL bindings."""
    response = await _send(admin, DescribeAcls(principal))
    if response.error_code:
        raise KafkaAdminError(
            f"DescribeAcls: error {response.error_code}: {response.error_message}"
        )
    found = []
    for resource_type, name, pattern, entries in response.resources:
        for _principal, _host, operation, _permission in entries:
            found.append((resource_type, name, pattern, operation))
    return found


def salted_password(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> bytes:
    """SCRAM's SaltedPassword: Hi(password, salt, i) = PBKDF2-HMAC-SHA-512."""
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)


async def upsert_scram(admin: Any, user: str, password: str) -> None:
    """Create or replace ``user``'s SCRAM-SHA-512 credential."""
    salt = os.urandom(32)
    upsert: tuple[Any, ...] = (
        user,
        SCRAM_SHA_512,
        SCRAM_ITERATIONS,
        salt,
        salted_password(password, salt),
        {},
    )
    await _check_scram(await _send(admin, AlterUserScramCredentials([], [upsert])))


async def delete_scram(admin: Any, user: str) -> bool:
    """Delete ``user``'s SCRAM-SHA-512 credential; False if it had none."""
    response = await _send(admin, AlterUserScramCredentials([(user, SCRAM_SHA_512, {})], []))
    for _user, code, _message, _tags in response.results:
        if code == RESOURCE_NOT_FOUND:
            return False
    await _check_scram(response)
    return True


async def _check_scram(response: Any) -> None:
    for user, code, message, _tags in response.results:
        if code:
            raise KafkaAdminError(f"AlterUserScramCredentials {user}: error {code}: {message}")


def new_password() -> str:
    return secrets.token_urlsafe(32)


def ensure_passwords(path: Path, principals: Iterable[str]) -> dict[str, str]:
    """The credentials file with a random password for every principal it lacked (0600)."""
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [p for p in principals if p not in known]
    if missing:
        known.update({p: new_password() for p in missing})
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(known, out, indent=1, sort_keys=True)
        os.replace(tmp, path)
    path.chmod(0o600)
    return known


async def apply_platform(settings: Settings, prefix: str = "") -> dict[str, int]:
    """Service credentials (from the credentials file), the ACL table under ``prefix`` and
    the platform's topics; idempotent. Returns counts for the log."""
    from shared.runtime import create_topics, topic_specs

    if not settings.kafka_credentials:
        raise KafkaAdminError("HEALTHLINK_KAFKA_CREDENTIALS is not set")
    passwords = ensure_passwords(Path(settings.kafka_credentials), acl.PRINCIPALS)
    async with admin_client(settings) as admin:
        if not prefix:  # credentials once; a test prefix only adds ACLs and topics
            for principal in acl.PRINCIPALS:
                await upsert_scram(admin, principal, passwords[principal])
        count = await create_acls(admin, acl.platform_acls(prefix))
    scoped = settings.model_copy(update={"topic_prefix": prefix})
    created = await create_topics(scoped, topic_specs(scoped), ADMIN)
    return {"principals": len(acl.PRINCIPALS), "acls": count, "topics_created": len(created)}


async def grant_hospital(settings: Settings, code: str, prefix: str = "") -> str:
    """A hospital's Kafka principal: a new password (returned once; Kafka keeps only the
    salted hash), its ACLs and its data-request topic."""
    from shared.runtime import create_topics, hospital_topic_spec

    principal = acl.hospital_principal(code)
    password = new_password()
    async with admin_client(settings) as admin:
        await upsert_scram(admin, principal, password)
        await create_acls(admin, acl.hospital_acls(code, prefix))
    scoped = settings.model_copy(update={"topic_prefix": prefix})
    await create_topics(scoped, [hospital_topic_spec(scoped, code)], ADMIN)
    return password


async def revoke_hospital(settings: Settings, code: str) -> tuple[bool, int]:
    """Delete a hospital's Kafka credential and every ACL of its principal."""
    principal = acl.hospital_principal(code)
    async with admin_client(settings) as admin:
        had = await delete_scram(admin, principal)
        removed = await delete_principal_acls(admin, acl.user(principal))
    return had, removed


_LOGINS: dict[tuple[str, str, str], KafkaConnection] = {}


async def hospital_connection(settings: Settings, code: str) -> KafkaConnection:
    """How the platform's own tools (demo, simulator, tests, benchmarks) connect as
    hospital ``code``: a login made for it (once per process; the hospital listener with
    the CA when ``HEALTHLINK_KAFKA_HOSPITAL_BOOTSTRAP`` is set), its data-request topic
    created. On a broker without authentication: a plain connection."""
    from shared.runtime import create_topics, hospital_topic_spec

    key = (settings.kafka_bootstrap, settings.topic_prefix, code)
    if key in _LOGINS:
        return _LOGINS[key]
    if password_of(settings, ADMIN) is None:
        await create_topics(settings, [hospital_topic_spec(settings, code)], ADMIN)
        found = KafkaConnection(settings.kafka_bootstrap)
    else:
        password = await grant_hospital(settings, code, settings.topic_prefix)
        principal = acl.hospital_principal(code)
        if settings.kafka_hospital_bootstrap:
            found = KafkaConnection(
                settings.kafka_hospital_bootstrap,
                security_protocol="SASL_SSL",
                sasl_mechanism="SCRAM-SHA-512",
                username=principal,
                password=password,
                ca_file=settings.kafka_ca_file or None,
            )
        else:
            found = connection(settings, principal, password=password)
        await _until_accepted(found)
    _LOGINS[key] = found
    return found


async def _until_accepted(conn: KafkaConnection, timeout_s: float = 10.0) -> None:
    """Wait until the broker accepts a new credential (it reaches the broker's cache
    through the metadata log, a moment after the controller accepted it)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        client = AIOKafkaAdminClient(**conn.client_options(), request_timeout_ms=5000)
        try:
            await client.start()
            return
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
        finally:
            await client.close()


async def drop_prefix(settings: Settings, prefix: str) -> int:
    """Delete the ACLs made for a (test) prefix: the table's, and those of the hospitals
    this process logged in under it. Returns how many."""
    bindings = acl.platform_acls(prefix)
    for _bootstrap, scoped, code in [k for k in _LOGINS if k[1] == prefix]:
        bindings += acl.hospital_acls(code, scoped)
        _LOGINS.pop((_bootstrap, scoped, code), None)
    async with admin_client(settings) as admin:
        return await delete_acls(admin, bindings)
