"""What every benchmark gets: isolated settings, the running services, actors."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.settings import Settings
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
    endpoints: Endpoints, settings: Settings | None = None, *, keep: bool = False
) -> AsyncIterator[BenchEnv]:
    """Services started on ``settings`` (fresh isolated ones by default); ``keep``: leave
    their topics and databases behind on exit (``bench.scale`` grows one store over runs)."""
    settings = settings or isolated_settings(endpoints)
    platform = Platform(settings, Path(tempfile.mkdtemp(prefix="healthlink-bench-")))
    platform.start_all()
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            yield BenchEnv(settings, platform, Actors(http, platform))
    finally:
        platform.stop_all()
        if not keep:
            await drop_isolated(settings)  # a benchmark leaves no topics or databases behind
