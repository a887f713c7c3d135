"""Composition root of the ingest service."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from fastapi import FastAPI

from services.ingest import handlers
from services.ingest.api import router
from services.ingest.handlers import Deps
from services.ingest.repository import RecordStore
from shared import topics
from shared.projections import ConsentProjection
from shared.runtime import make_runtime, service_app
from shared.settings import Settings

SERVICE = "ingest"


def create_app(settings: Settings) -> FastAPI:
    runtime = make_runtime(settings, SERVICE)
    store = RecordStore(runtime.db)
    deps = Deps(
        store=store,
        view=ConsentProjection(runtime.db.consent_view, runtime.db.hospital_view),
        publisher=runtime.publisher,
        secret=settings.token_secret,
        max_bytes=settings.max_bundle_bytes,
        clock=lambda: datetime.now(UTC),
    )
    runtime.on_start.insert(0, store.ensure_indexes)
    runtime.subscribe_events(topics.HOSPITAL_EVENTS, partial(handlers.on_hospital_event, deps))
    runtime.subscribe_events(topics.CONSENT_EVENTS, partial(handlers.on_consent_event, deps))
    runtime.subscribe_raw(
        topics.INGEST_UPLOADS, partial(handlers.on_upload, deps), workers=settings.upload_workers
    )
    app = service_app(
        runtime,
        "Health Link ingest",
        "Hospitals' FHIR R4 bundles in: validated, consent-gated, stored once.",
    )
    app.state.deps = deps
    app.state.settings = settings
    app.include_router(router)
    return app
