from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

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
