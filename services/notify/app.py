"""Composition root of the notify service."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial

import httpx
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from services.notify import handlers
from services.notify.announcements import Announcer
from services.notify.api import operator, router
from services.notify.digest import Digests, Preferences
from services.notify.handlers import Deps
from services.notify.repository import Inbox
from services.notify.settings import NotifySettings
from services.notify.webhook import Deliveries, Sender, webhook_key
from shared import topics
from shared.database import Document
from shared.events import utcnow
from shared.logging import get_logger
from shared.projections import ConsentProjection
from shared.runtime import every, make_runtime, service_app

SERVICE = "notify"
SETTINGS = NotifySettings
log = get_logger(__name__)


def database_deps(
    db: AsyncDatabase[Document], settings: NotifySettings, clock: Callable[[], datetime] = utcnow
) -> Deps:
    """The service's ports on its database (``clock``: what "now" is)."""
    return Deps(
        inbox=Inbox(db),
        view=ConsentProjection.in_database(db),
        patients=db.patients,
        preferences=Preferences(db),
        digests=Digests(db, clock),
        deliveries=Deliveries(db, clock) if settings.webhook_url else None,
        clock=clock,
    )


def create_app(settings: NotifySettings, *, deps: Deps | None = None) -> FastAPI:
    config = settings
    runtime = make_runtime(settings, SERVICE)
    db = runtime.db
    deps = deps or database_deps(db, settings)
    inbox, deliveries, clock = deps.inbox, deps.deliveries, deps.clock
    announcer = Announcer(db, deps.notify, f"notify-{uuid.uuid4().hex[:8]}")
    runtime.on_start.append(inbox.ensure_indexes)
    runtime.on_start.append(deps.digests.ensure_indexes)
    runtime.subscribe_events(topics.HOSPITAL_EVENTS, partial(handlers.on_hospital_event, deps))
    runtime.subscribe_events(topics.CONSENT_EVENTS, partial(handlers.on_consent_event, deps))
    runtime.subscribe_events(topics.ACCESS_EVENTS, partial(handlers.on_access_event, deps))
    runtime.subscribe_batch(
        topics.INGEST_RECORDS,
        partial(handlers.on_records_batch, deps),
        max_records=settings.event_batch,
    )
    runtime.background(
        every(config.schedule_tick_s, lambda: announcer.tick(clock()), "announcements")
    )
    runtime.background(every(config.digest_tick_s, partial(handlers.flush_digests, deps), "digest"))
    if deliveries is not None and config.webhook_url:
        http = httpx.AsyncClient()
        sender = Sender(
            deliveries,
            http,
            config.webhook_url,
            webhook_key(settings.token_secret),
            config.webhook_max_attempts,
            config.webhook_backoff_s,
            config.webhook_timeout_s,
            clock,
        )
        runtime.on_start.append(deliveries.ensure_indexes)
        runtime.on_stop.append(http.aclose)
        runtime.background(every(config.delivery_tick_s, sender.send_due, "webhook"))
    app = service_app(runtime, "Health Link notify", "Patients' inboxes and notifications.")
    app.state.inbox = inbox
    app.state.preferences = deps.preferences
    app.state.deliveries = deliveries
    app.state.announcer = announcer
    app.state.deps = deps
    app.state.settings = settings
    app.include_router(router)
    app.include_router(operator)
    return app
