"""Composition root of the notify service."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial

import httpx
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from services.notify import subscribers
from services.notify.announcements import Announcer
from services.notify.api import operator, router
from services.notify.deliveries import MongoDeliveries
from services.notify.digest import MongoDigestItems
from services.notify.handlers import Deps, flush_digests
from services.notify.indexes import INDEXES
from services.notify.migrations import migrate
from services.notify.repository import MongoDirectory, MongoInbox, MongoPatients, MongoPreferences
from services.notify.settings import NotifySettings
from services.notify.slots import MongoAnnouncementSlots
from services.notify.webhook import Sender, webhook_key
from shared import topics
from shared.database import Document
from shared.events import utcnow
from shared.indexes import ensuring
from shared.projections import ConsentProjection
from shared.runtime import Hook, Runtime, every, make_runtime, service_app

SERVICE = "notify"
SETTINGS = NotifySettings


def database_deps(
    db: AsyncDatabase[Document], settings: NotifySettings, clock: Callable[[], datetime] = utcnow
) -> Deps:
    """The service's ports on its database (``clock``: what "now" is); connects nothing."""
    return Deps(
        inbox=MongoInbox(db),
        patients=MongoPatients(db),
        preferences=MongoPreferences(db),
        digests=MongoDigestItems(db),
        deliveries=MongoDeliveries(db, clock) if settings.webhook_url else None,
        slots=MongoAnnouncementSlots(db),
        directory=MongoDirectory(db),
        view=ConsentProjection.in_database(db),
        clock=clock,
    )


def index_hooks(deps: Deps, pg_dsn: str) -> list[Hook]:
    """On the database ``deps`` use (fakes need nothing): the declared indexes
    (``indexes.py``), then the migrations of documents written before them."""
    if not isinstance(deps.inbox, MongoInbox):
        return []
    db = deps.inbox.database
    return [ensuring(db, INDEXES, pg_dsn), partial(migrate, db)]


def send_webhooks(runtime: Runtime, settings: NotifySettings, deps: Deps) -> None:
    """Deliver queued notifications to the wallet app's webhook, when one is configured."""
    if deps.deliveries is None or not settings.webhook_url:
        return
    http = httpx.AsyncClient()
    sender = Sender(
        deps.deliveries,
        http,
        settings.webhook_url,
        webhook_key(settings.token_secret),
        settings.webhook_max_attempts,
        settings.webhook_backoff_s,
        settings.webhook_timeout_s,
        deps.clock,
    )
    runtime.on_stop.append(http.aclose)
    runtime.background(every(settings.delivery_tick_s, sender.send_due, "webhook"))


def create_app(settings: NotifySettings, *, deps: Deps | None = None) -> FastAPI:
    runtime = make_runtime(settings, SERVICE)
    deps = deps or database_deps(runtime.db, settings)
    runtime.on_start.extend(index_hooks(deps, settings.pg_dsn))
    runtime.subscribe_events(topics.HOSPITAL_EVENTS, partial(subscribers.on_hospital_event, deps))
    runtime.subscribe_events(topics.CONSENT_EVENTS, partial(subscribers.on_consent_event, deps))
    runtime.subscribe_events(topics.ACCESS_EVENTS, partial(subscribers.on_access_event, deps))
    runtime.subscribe_batch(
        topics.INGEST_RECORDS,
        partial(subscribers.on_records_batch, deps),
        max_records=settings.event_batch,
    )
    announcer = Announcer(deps, f"notify-{uuid.uuid4().hex[:8]}")
    clock = deps.clock
    runtime.background(
        every(settings.schedule_tick_s, lambda: announcer.tick(clock()), "announcements")
    )
    runtime.background(every(settings.digest_tick_s, partial(flush_digests, deps), "digest"))
    send_webhooks(runtime, settings, deps)
    app = service_app(runtime, "Health Link notify", "Patients' inboxes and notifications.")
    app.state.deps = deps
    app.state.hospitals = deps.view  # admin keys (shared/hospital_auth.py)
    app.state.settings = settings
    app.include_router(router)
    app.include_router(operator)
    return app
