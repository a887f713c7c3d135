"""Per-test-session settings: a unique topic prefix and database prefix each.

On a broker with ACLs (the local stack), a session's prefix gets the ACL table of
``shared/acl.py`` for its topics and groups (every service principal exactly its
rows, as in production) and its topics, made by the admin; ``drop_isolated`` removes
them again. Tests that inject or read raw records play other parties, so they connect
as the admin (``tests/support/kafka.py``)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine
from typing import Any

from shared.settings import Settings
from tests.support.stack import Endpoints

TEST_SECRET = "test-secret-not-for-production"
TEST_ADMIN = "test-operator-token"


def isolated_settings(endpoints: Endpoints, **overrides: object) -> Settings:
    run = uuid.uuid4().hex[:8]
    values: dict[str, object] = {
        "environment": "test",
        "kafka_bootstrap": endpoints.kafka_bootstrap,
        "mongo_url": endpoints.mongo_url,
        "pg_dsn": endpoints.pg_dsn,
        "kafka_credentials": endpoints.kafka_credentials,
        "kafka_hospital_bootstrap": endpoints.kafka_hospital_bootstrap,
        "kafka_ca_file": endpoints.kafka_ca_file,
        "topic_prefix": f"t{run}.",
        "db_prefix": f"t{run}",
        "token_secret": TEST_SECRET,
        "admin_token": TEST_ADMIN,
    }
    values.update(overrides)
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.kafka_credentials:
        from shared.kafka_admin import apply_platform

        run_soon(apply_platform(settings, settings.topic_prefix))
    return settings


def run_soon(work: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion from sync or async code (on a thread of its own)."""
    found: list[Any] = []
    failed: list[BaseException] = []

    def target() -> None:
        try:
            found.append(asyncio.run(work))
        except BaseException as exc:  # re-raised in the caller
            failed.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return found[0]


def env_of(settings: Settings) -> dict[str, str]:
    """The environment that gives a subprocess the same settings."""
    return {
        f"HEALTHLINK_{name.upper()}": str(value) for name, value in settings.model_dump().items()
    }


async def drop_isolated(settings: Settings) -> None:
    """Delete a test's topics and databases, so a long-lived local stack stays small."""
    from aiokafka.admin import AIOKafkaAdminClient

    from shared.database import make_client
    from shared.kafka_admin import drop_prefix
    from shared.kafka_client import ADMIN, client_options
    from shared.settings import SERVICE_PORTS

    admin = AIOKafkaAdminClient(**client_options(settings, ADMIN))
    await admin.start()
    try:
        prefix = settings.topic_prefix
        await admin.delete_topics([t for t in await admin.list_topics() if t.startswith(prefix)])
    except Exception:  # already gone, or never created: nothing to clean
        pass
    finally:
        await admin.close()
    if settings.kafka_credentials:
        await drop_prefix(settings, settings.topic_prefix)
    client = make_client(settings)
    try:
        for service in SERVICE_PORTS:
            await client.drop_database(settings.db_name(service))
    finally:
        await client.close()


def settings_for(service: str, base: Settings, **overrides: object) -> Any:
    """``service``'s own settings class over a test session's shared settings."""
    from healthlink.apps import settings_for as build

    return build(service, base, **overrides)
