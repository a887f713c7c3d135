"""The platform's Kafka administration: credentials, the ACL table, hospital logins.

``apply_platform`` is what ``healthlink kafka apply-acls`` (and ``infra.sh up``) runs:
every service principal's credential (a random password, kept in the credentials file),
the ACL table of ``shared/acl.py`` and the platform's topics. The wire requests these
use are in ``shared/kafka_protocol.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from healthlink_adapter.kafka import KafkaConnection

from shared import acl, topics
from shared.kafka_client import ADMIN, client_options, connection, password_of
from shared.kafka_protocol import (
    KafkaAdminError,
    create_acls,
    delete_acls,
    delete_principal_acls,
    delete_scram,
    describe_acls,
    upsert_scram,
)
from shared.kafka_topics import create_topics, hospital_topic_spec, topic_specs
from shared.settings import Settings

__all__ = ["KafkaAdminError", "admin_client", "describe_acls", "hospital_connection"]


@asynccontextmanager
async def admin_client(settings: Settings, principal: str = ADMIN) -> AsyncIterator[Any]:
    """An aiokafka admin client connected as ``principal`` (default: the admin)."""
    admin = AIOKafkaAdminClient(**client_options(settings, principal), request_timeout_ms=30000)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


def new_password() -> str:
    return secrets.token_urlsafe(32)


def ensure_passwords(path: Path, principals: Iterable[str]) -> dict[str, str]:
    """The credentials file with a random password for every principal it lacked (0600).

    A complete file is only read: in Docker Compose and Kubernetes it is a read-only
    secret made beforehand by ``deploy/kafka-secrets.sh``."""
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [p for p in principals if p not in known]
    if missing:
        known.update({p: new_password() for p in missing})
        tmp = path.with_suffix(".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise KafkaAdminError(
                f"{path} has no password for {', '.join(missing)} and cannot be written "
                f"({exc.strerror}): make it with deploy/kafka-secrets.sh"
            ) from exc
        with os.fdopen(fd, "w") as out:
            json.dump(known, out, indent=1, sort_keys=True)
        os.replace(tmp, path)
    return known


async def missing_topics(settings: Settings, principal: str) -> list[str]:
    """The topics ``principal`` reads or writes (shared/acl.py) that it cannot describe
    yet: not created, or its ACLs not in force. Raises when it cannot log in."""
    grants = acl.PRINCIPALS[principal]
    names = [
        topics.named(t, settings.topic_prefix)
        for t in dict.fromkeys((*grants.writes, *grants.reads))
    ]
    async with admin_client(settings, principal) as admin:
        described = await admin.describe_topics(names)
    found = {t["topic"] for t in described if t["error_code"] == 0}
    return [name for name in names if name not in found]


async def apply_platform(settings: Settings, prefix: str = "") -> dict[str, int]:
    """Service credentials (from the credentials file), the ACL table under ``prefix`` and
    the platform's topics; idempotent. Returns counts for the log."""
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
