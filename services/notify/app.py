"""Composition root of the notify service."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from services.notify import handlers
from services.notify.api import router
from services.notify.handlers import Deps
from services.notify.repository import Inbox
from shared import topics
from shared.projections import ConsentProjection
from shared.runtime import make_runtime, service_app
from shared.settings import Settings

SERVICE = "notify"


def create_app(settings: Settings) -> FastAPI:
    runtime = make_runtime(settings, SERVICE)
    inbox = Inbox(runtime.db)
    deps = Deps(
        inbox=inbox, view=ConsentProjection(runtime.db.consent_view, runtime.db.hospital_view)
    )
    runtime.on_start.append(inbox.ensure_indexes)
    runtime.subscribe_events(topics.HOSPITAL_EVENTS, partial(handlers.on_hospital_event, deps))
    runtime.subscribe_events(topics.ACCESS_EVENTS, partial(handlers.on_access_event, deps))
    runtime.subscribe_events(topics.INGEST_RECORDS, partial(handlers.on_records_received, deps))
    app = service_app(runtime, "Health Link notify", "Patients' inboxes and notifications.")
    app.state.inbox = inbox
    app.state.settings = settings
    app.include_router(router)
    return app
