"""Kafka's ACL and SCRAM-credential requests, over aiokafka's wire-protocol classes.

aiokafka (the platform's one Kafka client) has no high-level API for CreateAcls,
DeleteAcls, DescribeAcls or AlterUserScramCredentials, and adding kafka-python or
confluent-kafka only for these calls would bring a second client library
(confluent-kafka: a native librdkafka wheel) into the lock. So they are implemented
here over ``aiokafka.protocol``: CreateAcls/DeleteAcls/DescribeAcls v1 (which aiokafka
defines) batched into one request each, and AlterUserScramCredentials v0 (API key 51,
KIP-554, a flexible version), whose structs are declared below. The client computes
the salted password (PBKDF2-HMAC-SHA-512, RFC 5802/7677) so the password itself never
travels to the broker. The operations built on them are in ``shared/kafka_admin.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterable
from typing import Any

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

from shared import acl

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
    """One filter: (resource type, name, pattern, principal, host, operation, permission)."""

    API_KEY = 29

    def __init__(self, row: tuple[Any, ...]) -> None:
        self._row = row

    def build(self, request_struct_class: type[DescribeAclsRequest_v1]) -> DescribeAclsRequest_v1:
        return request_struct_class(*self._row)


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
    if rows:
        await _until_described(admin, rows[-1])
    return len(rows)


async def _until_described(admin: Any, row: tuple[Any, ...], timeout_s: float = 30.0) -> None:
    """Wait until the broker's authorizer holds ``row``.

    CreateAcls answers once the controller has written the bindings; the broker applies
    them when it replays the metadata log, a moment later (longer under load). A client
    that starts in between is refused (TOPIC_AUTHORIZATION_FAILED). The bindings of one
    request are applied in order, so seeing the last one means all are in force.
    DescribeAcls reads the same authorizer state that authorizes requests."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        response = await _send(admin, DescribeAcls(row))
        if not response.error_code and response.resources:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise KafkaAdminError(f"ACL binding not in force after {timeout_s:.0f} s: {row}")
        await asyncio.sleep(0.05)


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
    # any resource type, any name, any pattern, this principal, any host/op/permission
    response = await _send(admin, DescribeAcls((1, None, acl.Pattern.ANY, principal, None, 1, 1)))
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
