"""Composition root of the consent service."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from fastapi import FastAPI

from services.consent import subscribers
from services.consent.api import consent, fhir_router, hospitals, patients
from services.consent.consents import expire_due
from services.consent.handlers import Deps, Marks, relay
from services.consent.hospital_keys import StoredHospitals
from services.consent.indexes import INDEXES
from services.consent.keys_api import router as keys_router
from services.consent.migrations import migrate
from services.consent.repository import MongoConsentRepository
from services.consent.settings import ConsentSettings
from services.consent.verification import HttpVerifier, make_verifier
from shared import topics
from shared.indexes import ensuring
from shared.logging import get_logger
from shared.runtime import every, make_runtime, service_app

SERVICE = "consent"
SETTINGS = ConsentSettings
log = get_logger(__name__)


def create_app(settings: ConsentSettings, *, deps: Deps | None = None) -> FastAPI:
    runtime = make_runtime(settings, SERVICE)
    if deps is None:
        repo = MongoConsentRepository(runtime.db)
        runtime.on_start.append(ensuring(runtime.db, INDEXES, settings.pg_dsn))
        runtime.on_start.append(partial(migrate, runtime.db))
        deps = Deps(
            repo=repo,
            publisher=runtime.publisher,
            clock=lambda: datetime.now(UTC),
            verifier=make_verifier(settings.verifier_url, settings.verifier_timeout_s),
            marks=Marks(background=True),
        )
        runtime.on_stop.append(deps.marks.drain)
        if isinstance(deps.verifier, HttpVerifier):
            runtime.on_stop.append(deps.verifier.close)
    runtime.subscribe_events(topics.HOSPITAL_EVENTS, partial(subscribers.on_hospital_event, deps))
    runtime.background(every(settings.relay_interval_s, partial(relay, deps), "outbox relay"))
    runtime.background(
        every(settings.expiry_interval_s, partial(expire_due, deps), "per-visit expiry")
    )
    app = service_app(
        runtime, "Health Link consent", "Patients, participating hospitals and consents."
    )
    app.state.deps = deps
    app.state.settings = settings
    app.state.security_publisher = deps.publisher  # operators' actions (shared/operators.py)
    app.state.hospitals = StoredHospitals(deps)  # admin keys (shared/hospital_auth.py)
    for router in (patients, consent, fhir_router, hospitals, keys_router):
        app.include_router(router)
    return app
