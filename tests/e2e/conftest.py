from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from shared.settings import Settings
from tests.support.browser import PHONE, chromium
from tests.support.journey import Actors
from tests.support.platform import Platform, running_platform
from tests.support.settings import drop_isolated, isolated_settings
from tests.support.stack import Endpoints, real_stack


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    with real_stack() as found:
        yield found


@pytest.fixture(scope="session")
def settings(endpoints: Endpoints) -> Settings:
    return isolated_settings(endpoints)


@pytest.fixture(scope="session")
def platform(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(settings, tmp_path_factory.mktemp("service-logs")) as running:
        yield running


@pytest.fixture
async def actors(platform: Platform) -> AsyncIterator[Actors]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield Actors(http, platform)


@pytest.fixture(scope="module")
async def ops_settings(endpoints: Endpoints) -> AsyncIterator[Settings]:
    """A module's own topics and databases (for tests that stop, wipe or scale services)."""
    fresh = isolated_settings(endpoints)
    yield fresh
    await drop_isolated(fresh)


@pytest.fixture(scope="module")
def ops_platform(
    ops_settings: Settings, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Platform]:
    """All six services for one module; a module may override it to start fewer or more."""
    log_dir = tmp_path_factory.mktemp(f"{request.module.__name__}-logs")
    with running_platform(ops_settings, log_dir) as running:
        yield running


@pytest.fixture
async def ops(ops_platform: Platform) -> AsyncIterator[Actors]:
    async with httpx.AsyncClient(timeout=60) as http:
        yield Actors(http, ops_platform)


@pytest.fixture
def phone() -> Iterator[WebDriver]:
    """Headless chromium at a phone's size (the portal's browser tests)."""
    with chromium(*PHONE, phone=True) as driver:
        yield driver


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Headless chromium at a desktop's size (the portal's browser tests)."""
    with chromium(1200, 900) as driver:
        yield driver
