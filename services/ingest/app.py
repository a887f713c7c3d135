"""Composition root of the ingest service."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import partial

import httpx
from fastapi import FastAPI

from services.ingest import subscribers
from services.ingest.api import router
from services.ingest.bundle import warm_up
from services.ingest.categories import CATEGORY_BY_TYPE, SUPPORTING_TYPES
from services.ingest.datarequests import KafkaRequestPages
from services.ingest.delivery import TIMEOUT_S, Delivery, deliver_requests
from services.ingest.handlers import Deps
from services.ingest.indexes import INDEXES
from services.ingest.receiptstore import MongoReceipts
from services.ingest.repository import MongoHeldUploads, MongoRecords
from services.ingest.settings import IngestSettings
from services.ingest.subscription_api import router as subscription_router
from services.ingest.subscriptionstore import MongoSubscriptions
from services.ingest.validation import InProcesses, InThread, Validator
from shared import topics
from shared.deadletter_reader import LetterReader
from shared.indexes import ensuring
from shared.logging import get_logger
from shared.projections import ConsentProjection
from shared.runtime import Runtime, make_runtime, service_app

SERVICE = "ingest"
SETTINGS = IngestSettings
log = get_logger(__name__)


MODEL_TYPES = [*CATEGORY_BY_TYPE, *SUPPORTING_TYPES]


async def warm_models() -> None:
    """Load the FHIR models before the first upload, not during it."""
    loaded = await asyncio.to_thread(warm_up, MODEL_TYPES)
    log.info("fhir models loaded", models=loaded)


def validator_of(runtime: Runtime, settings: IngestSettings) -> Validator:
    """Validation in worker processes (started and stopped with the service), or, with
    ``validation_processes = 0``, in a thread (models loaded at start)."""
    if not settings.validation_processes:
        runtime.on_start.append(warm_models)
        return InThread()
    workers = InProcesses(settings.validation_processes, settings.max_bundle_bytes, MODEL_TYPES)

    async def start() -> None:  # a replay does not wait for them (validation.py)
        await workers.start(every=not runtime.replaying)

    runtime.on_start.append(start)
    runtime.on_stop.append(workers.stop)
    return workers


def database_deps(runtime: Runtime, settings: IngestSettings) -> Deps:
    """The service's ports on its database, its indexes (``indexes.py``) ensured at start;
    connects nothing."""
    runtime.on_start.append(ensuring(runtime.db, INDEXES, settings.pg_dsn))
    return Deps(
        records=MongoRecords(runtime.db),
        held=MongoHeldUploads(runtime.db),
        receipts=MongoReceipts(runtime.db),
        view=ConsentProjection.in_database(runtime.db),
        publisher=runtime.publisher,
        max_bytes=settings.max_bundle_bytes,
        clock=lambda: datetime.now(UTC),
        validator=validator_of(runtime, settings),
        subscriptions=MongoSubscriptions(runtime.db),
    )


def create_app(settings: IngestSettings, *, deps: Deps | None = None) -> FastAPI:
    runtime = make_runtime(settings, SERVICE)
    deps = deps or database_deps(runtime, settings)
    runtime.subscribe_events(topics.HOSPITAL_EVENTS, partial(subscribers.on_hospital_event, deps))
    runtime.subscribe_events(topics.CONSENT_EVENTS, partial(subscribers.on_consent_event, deps))
    runtime.subscribe_batch(
        topics.INGEST_UPLOADS,
        partial(subscribers.on_uploads, deps),
        max_records=settings.upload_batch,
        consumers=settings.upload_consumers,
    )
    app = service_app(
        runtime,
        "Health Link ingest",
        "Hospitals' FHIR R4 bundles in: validated, consent-gated, stored once.",
        larger_bodies={"/fhir": settings.max_bundle_bytes},  # uploads keep their own limit
    )
    app.state.deps = deps
    app.state.hospitals = deps.view  # admin keys (shared/hospital_auth.py)
    app.state.settings = settings
    pages = KafkaRequestPages(LetterReader(settings, SERVICE))
    runtime.on_stop.append(pages.close)
    app.state.request_pages = pages
    app.include_router(router)
    app.include_router(subscription_router)
    client = httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False)  # connects on use
    deliver_requests(runtime, settings, Delivery(deps.subscriptions, client, deps.clock))
    app.state.pattern_topics = (topics.DATA_REQUESTS,)  # every hospital's (delivery.py)
    return app
