"""How every platform client (services, command line, tests) connects to Kafka.

Each connects as its own principal (docs/kafka-security.md): a service as its name, the
command line's read-only tools as ``operator``, the platform's own administration as
``admin``. The password comes from ``HEALTHLINK_KAFKA_USERNAME``/``_PASSWORD`` (a
container runs one service) or from the credentials file
(``HEALTHLINK_KAFKA_CREDENTIALS``, ``{principal: password}``, made by
``deploy/local/infra.sh``). With neither, the client connects without SASL (a broker
without authentication, e.g. the compose stack without secrets).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from healthlink_adapter.kafka import KafkaConnection

from shared.settings import Settings

ADMIN = "admin"  # the platform's super user: ACLs, credentials, topics
OPERATOR = "operator"  # the command line's read-only tools (dlq list, replay, offsets)


class MissingCredential(RuntimeError):
    """The credentials file has no password for a principal."""


@cache
def _read(path: str, mtime_ns: int) -> dict[str, str]:
    del mtime_ns  # part of the cache key: a changed file is read again
    found = json.loads(Path(path).read_text())
    if not isinstance(found, dict):
        raise ValueError(f"{path}: expected a JSON object of principal -> password")
    return {str(k): str(v) for k, v in found.items()}


def credentials(settings: Settings) -> dict[str, str]:
    """Every principal's password in the credentials file ({} without a file)."""
    if not settings.kafka_credentials:
        return {}
    path = Path(settings.kafka_credentials)
    return _read(str(path), path.stat().st_mtime_ns)


def password_of(settings: Settings, principal: str) -> str | None:
    """``principal``'s password, or None when the platform connects without SASL."""
    if settings.kafka_username and settings.kafka_password:
        return settings.kafka_password if settings.kafka_username == principal else None
    if not settings.kafka_credentials:
        return None
    known = credentials(settings)
    if principal not in known:
        raise MissingCredential(
            f"no Kafka password for principal {principal!r} in {settings.kafka_credentials} "
            "(run `healthlink kafka apply-acls`, which infra.sh up does)"
        )
    return known[principal]


def connection(
    settings: Settings, principal: str, *, bootstrap: str = "", password: str | None = None
) -> KafkaConnection:
    """How ``principal`` reaches the broker (SASL when a password is known)."""
    secret = password if password is not None else password_of(settings, principal)
    protocol = settings.kafka_security_protocol
    if not protocol:
        protocol = "SASL_PLAINTEXT" if secret is not None else "PLAINTEXT"
    if protocol != "PLAINTEXT" and secret is None:  # SASL asked for: never fall back
        raise MissingCredential(
            f"HEALTHLINK_KAFKA_SECURITY_PROTOCOL={protocol} but no Kafka password for "
            f"principal {principal!r} (HEALTHLINK_KAFKA_CREDENTIALS or _USERNAME/_PASSWORD)"
        )
    if protocol == "PLAINTEXT" or secret is None:
        return KafkaConnection(bootstrap or settings.kafka_bootstrap)
    username = (
        settings.kafka_username if settings.kafka_username and password is None else principal
    )
    return KafkaConnection(
        bootstrap or settings.kafka_bootstrap,
        security_protocol=protocol,
        sasl_mechanism=settings.kafka_sasl_mechanism,
        username=username,
        password=secret,
        ca_file=settings.kafka_ca_file or None,
    )


def client_options(settings: Settings, principal: str) -> dict[str, Any]:
    """Keyword arguments for an aiokafka client connecting as ``principal``."""
    return connection(settings, principal).client_options()


def faststream_options(settings: Settings, principal: str) -> dict[str, Any]:
    """Keyword arguments for FastStream's ``KafkaBroker`` connecting as ``principal``."""
    from faststream.security import SASLPlaintext, SASLScram256, SASLScram512

    conn = connection(settings, principal)
    if not conn.security_protocol.startswith("SASL"):
        return {}
    ssl = conn.ssl_context() if conn.security_protocol == "SASL_SSL" else None
    kind = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256}.get(
        conn.sasl_mechanism or "", SASLPlaintext
    )
    assert conn.username is not None and conn.password is not None
    return {
        "security": kind(
            username=conn.username,
            password=conn.password,
            ssl_context=ssl,
            use_ssl=ssl is not None,
        )
    }
