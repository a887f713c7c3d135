"""Composition root of the consent service."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import FastAPI

from services.consent.api import hospitals, patients
from services.consent.handlers import Deps, relay
from services.consent.repository import MongoConsentRepository
from shared.logging import get_logger
from shared.runtime import make_runtime, service_app
from shared.settings import Settings

SERVICE = "consent"
RELAY_INTERVAL_S = 2.0
log = get_logger(__name__)


def create_app(settings: Settings) -> FastAPI:
    runtime = make_runtime(settings, SERVICE)
    deps = Deps(
        repo=MongoConsentRepository(runtime.db),
        publisher=runtime.publisher,
        clock=lambda: datetime.now(UTC),
    )

    async def relay_loop() -> None:
        while True:
            try:
                await relay(deps)
            except Exception as exc:  # keep relaying; the next round retries
                log.warning("outbox relay failed", error=type(exc).__name__)
            await asyncio.sleep(RELAY_INTERVAL_S)

    runtime.background(relay_loop)
    app = service_app(
        runtime, "Health Link consent", "Patients, participating hospitals and consents."
    )
    app.state.deps = deps
    app.state.settings = settings
    app.include_router(patients)
    app.include_router(hospitals)
    return app
