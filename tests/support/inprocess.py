"""A service's app run in-process (its real lifespan: real Kafka, real database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from healthlink.apps import build_app
from shared.settings import Settings


@asynccontextmanager
async def running(
    service: str, settings: Settings, **overrides: object
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """Start ``service`` (broker, consumer, database) and give an HTTP client to it;
    ``overrides``: fields of the service's own settings."""
    app = build_app(service, settings, **overrides)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", timeout=30
        ) as client:
            yield app, client
