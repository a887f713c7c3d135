"""Where the tests find the real Kafka and MongoDB-protocol database.

1. ``HEALTHLINK_KAFKA_BOOTSTRAP`` and ``HEALTHLINK_MONGO_URL`` set: use them (and
   ``HEALTHLINK_PG_DSN``, FerretDB's PostgreSQL, when set).
2. Else, a Docker engine reachable: testcontainers (Kafka and MongoDB images).
3. Else: ``deploy/local/infra.sh up`` (real Kafka + FerretDB on PostgreSQL).

In CI (``CI`` set) nothing is skipped: if none of these works the session fails.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "deploy" / "local" / "infra.sh"


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    mongo_url: str
    pg_dsn: str = ""  # FerretDB's PostgreSQL (local stack); empty on MongoDB
    # Kafka's SASL (local stack): the credentials file, the hospital listener and its CA;
    # empty: a broker without authentication (testcontainers).
    kafka_credentials: str = ""
    kafka_hospital_bootstrap: str = ""
    kafka_ca_file: str = ""


KAFKA_SECURITY = (
    "HEALTHLINK_KAFKA_CREDENTIALS",
    "HEALTHLINK_KAFKA_HOSPITAL_BOOTSTRAP",
    "HEALTHLINK_KAFKA_CA_FILE",
)


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


@contextmanager
def _containers() -> Iterator[Endpoints]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    with ExitStack() as stack:
        kafka = stack.enter_context(KafkaContainer().with_kraft())
        mongo = stack.enter_context(MongoDbContainer("mongo:7"))
        yield Endpoints(kafka.get_bootstrap_server(), mongo.get_connection_url())


def _local_stack() -> Endpoints:
    subprocess.run(["bash", str(INFRA), "up"], check=True, cwd=ROOT)
    out = subprocess.run(
        ["bash", str(INFRA), "env"], check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout
    env = dict(
        line.removeprefix("export ").split("=", 1)
        for line in out.splitlines()
        if line.startswith("export ")
    )
    return Endpoints(
        env["HEALTHLINK_KAFKA_BOOTSTRAP"],
        env["HEALTHLINK_MONGO_URL"],
        env["HEALTHLINK_PG_DSN"],
        *(env.get(name, "") for name in KAFKA_SECURITY),
    )


@contextmanager
def real_stack() -> Iterator[Endpoints]:
    kafka = os.environ.get("HEALTHLINK_KAFKA_BOOTSTRAP")
    mongo = os.environ.get("HEALTHLINK_MONGO_URL")
    if kafka and mongo:
        yield Endpoints(
            kafka,
            mongo,
            os.environ.get("HEALTHLINK_PG_DSN", ""),
            *(os.environ.get(name, "") for name in KAFKA_SECURITY),
        )
    elif _docker_available():
        with _containers() as endpoints:
            yield endpoints
    else:
        yield _local_stack()
