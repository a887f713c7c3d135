"""What every benchmark gets: isolated settings, the running services, actors."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.settings import SERVICE_PORTS, Settings
from tests.support.journey import Actors
from tests.support.platform import Platform
from tests.support.settings import drop_isolated, isolated_settings
from tests.support.stack import Endpoints


@dataclass
class BenchEnv:
    settings: Settings
    platform: Platform
    actors: Actors


@asynccontextmanager
async def bench_env(
    endpoints: Endpoints,
    settings: Settings | None = None,
    *,
    keep: bool = False,
    ready_s: float = 120.0,
) -> AsyncIterator[BenchEnv]:
    """Services started on ``settings`` (fresh isolated ones by default) and stopped on
    exit, even when one never gets ready within ``ready_s``; ``keep``: leave their topics
    and databases behind (``bench.scale`` grows one store over runs)."""
    settings = settings or isolated_settings(endpoints)
    platform = Platform(settings, Path(tempfile.mkdtemp(prefix="healthlink-bench-")))
    try:
        for service in SERVICE_PORTS:
            platform.start(service)
        for service in SERVICE_PORTS:
            platform.wait_ready(service, ready_s)
        async with httpx.AsyncClient(timeout=30) as http:
            yield BenchEnv(settings, platform, Actors(http, platform))
    finally:
        platform.stop_all()
        if not keep:
            await drop_isolated(settings)  # a benchmark leaves no topics or databases behind
