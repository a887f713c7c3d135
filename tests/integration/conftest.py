from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.settings import Settings
from tests.support.settings import isolated_settings
from tests.support.stack import Endpoints, real_stack


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    with real_stack() as found:
        yield found


@pytest.fixture
def settings(endpoints: Endpoints) -> Settings:
    """Fresh topics and databases for every test."""
    return isolated_settings(endpoints)
