"""Composition root of the query service."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from fastapi import FastAPI

from services.query.api import admin, fhir
from services.query.handlers import Deps
from services.query.physicians import MongoLicenceRegistry, Rosters
from services.query.records import RecordReader
from shared import topics
from shared.events import Envelope
from shared.projections import ConsentProjection
from shared.runtime import make_runtime, service_app
from shared.settings import Settings

SERVICE = "query"


async def on_consent_event(view: ConsentProjection, event: Envelope) -> None:
    if event.name.startswith("consent."):
        await view.on_consent_event(event)


async def on_hospital_event(view: ConsentProjection, event: Envelope) -> None:
    await view.on_hospital_event(event)


def create_app(settings: Settings) -> FastAPI:
    runtime = make_runtime(settings, SERVICE)
    view = ConsentProjection(runtime.db.consent_view, runtime.db.hospital_view)
    records = runtime.client[settings.db_name("ingest")].records
    deps = Deps(
        registry=MongoLicenceRegistry(runtime.db),
        rosters=Rosters(runtime.db),
        view=view,
        records=RecordReader(records),
        publisher=runtime.publisher,
        secret=settings.token_secret,
        token_ttl_s=settings.token_ttl_s,
        clock=lambda: datetime.now(UTC),
    )
    runtime.subscribe_events(topics.CONSENT_EVENTS, partial(on_consent_event, view))
    runtime.subscribe_events(topics.HOSPITAL_EVENTS, partial(on_hospital_event, view))
    app = service_app(
        runtime, "Health Link query", "Physicians read consented records; every read is audited."
    )
    app.state.deps = deps
    app.state.settings = settings
    app.include_router(admin)
    app.include_router(fhir)
    return app
