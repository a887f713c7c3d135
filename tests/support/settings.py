"""Per-test-session settings: a unique topic prefix and database prefix each."""

from __future__ import annotations

import uuid
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
        "topic_prefix": f"t{run}.",
        "db_prefix": f"t{run}",
        "token_secret": TEST_SECRET,
        "admin_token": TEST_ADMIN,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def env_of(settings: Settings) -> dict[str, str]:
    """The environment that gives a subprocess the same settings."""
    return {
        f"HEALTHLINK_{name.upper()}": str(value) for name, value in settings.model_dump().items()
    }


async def drop_isolated(settings: Settings) -> None:
    """Delete a test's topics and databases, so a long-lived local stack stays small."""
    from aiokafka.admin import AIOKafkaAdminClient

    from shared.database import make_client
    from shared.runtime import topic_specs
    from shared.settings import SERVICE_PORTS

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([spec.name for spec in topic_specs(settings)])
    except Exception:  # already gone, or never created: nothing to clean
        pass
    finally:
        await admin.close()
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
