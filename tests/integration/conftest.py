from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from pymongo import AsyncMongoClient

from shared.database import Document, make_client
from shared.settings import Settings
from tests.support.settings import drop_isolated, isolated_settings
from tests.support.stack import Endpoints, real_stack


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    with real_stack() as found:
        yield found


@pytest.fixture
async def settings(endpoints: Endpoints) -> AsyncIterator[Settings]:
    """Fresh topics and databases for every test, dropped afterwards."""
    fresh = isolated_settings(endpoints)
    yield fresh
    await drop_isolated(fresh)


@pytest.fixture(scope="module")
def stack_settings(endpoints: Endpoints) -> Settings:
    """Topics and databases of their own for a whole test module."""
    return isolated_settings(endpoints)


@pytest.fixture
async def mongo(stack_settings: Settings) -> AsyncIterator[AsyncMongoClient[Document]]:
    """A database client on the module's stack, closed after the test."""
    client = make_client(stack_settings)
    yield client
    await client.close()
