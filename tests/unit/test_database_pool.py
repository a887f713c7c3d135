"""Every database client is made with the shared pool cap (issue 14): FerretDB 1.24
deadlocks when ~50 operations each hold one of its PostgreSQL connections and wait for
another, so the services' pools together must stay under that."""

from __future__ import annotations

import pytest

from healthlink.apps import settings_class
from services.auth.oauthstore import sync_database
from shared.database import make_client
from shared.settings import SERVICE_PORTS, Settings

pytestmark = pytest.mark.unit

# FerretDB 1.24's PostgreSQL pool (docs/architecture.md#why-ferretdb-and-what-it-means).
FERRETDB_PG_CONNECTIONS = 50
# Services with a database client: all but the portal, plus query's projector process
# and auth's synchronous OAuth client.
DATABASE_CLIENTS = len(SERVICE_PORTS) - 1 + 2


async def test_the_async_client_gets_the_setting() -> None:
    client = make_client(Settings(mongo_max_pool=7))
    try:
        assert client.options.pool_options.max_pool_size == 7
    finally:
        await client.close()


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHLINK_MONGO_MAX_POOL", "3")
    assert Settings().mongo_max_pool == 3
    for service in SERVICE_PORTS:
        assert settings_class(service)().mongo_max_pool == 3


def test_auths_synchronous_oauth_client_gets_it_too() -> None:
    client, _ = sync_database(Settings(mongo_max_pool=4), "auth")
    try:
        assert client.options.pool_options.max_pool_size == 4
    finally:
        client.close()


def test_the_default_keeps_every_pool_together_well_under_ferretdbs() -> None:
    default = Settings().mongo_max_pool
    assert DATABASE_CLIENTS * default < FERRETDB_PG_CONNECTIONS
    with pytest.raises(ValueError):
        Settings(mongo_max_pool=0)
