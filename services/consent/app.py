"""Composition root of the consent service."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from fastapi import FastAPI

from services.consent import registry
from services.consent.api import consent, fhir_router, hospitals, patients
from services.consent.consents import expire_due
from services.consent.handlers import Deps, relay
from services.consent.repository import MongoConsentRepository
from services.consent.settings import ConsentSettings
from services.consent.verification import make_verifier
from shared import topics
from shared.logging import get_logger
from shared.runtime import every, make_runtime, service_app
from shared.settings import Settings

SERVICE = "consent"
log = get_logger(__name__)


def create_app(settings: Settings, local: ConsentSettings | None = None) -> FastAPI:
    local = local or ConsentSettings()
    local.check(settings)
    runtime = make_runtime(settings, SERVICE)
    repo = MongoConsentRepository(runtime.db)
    deps = Deps(
        repo=repo,
        publisher=runtime.publisher,
        clock=lambda: datetime.now(UTC),
        verifier=make_verifier(local.verifier_url, local.verifier_timeout_s),
    )

    runtime.subscribe_events(topics.HOSPITAL_EVENTS, partial(registry.on_hospital_event, deps))
    runtime.on_start.append(repo.ensure_indexes)
    runtime.background(every(local.relay_interval_s, partial(relay, deps), "outbox relay"))
    runtime.background(
        every(local.expiry_interval_s, partial(expire_due, deps), "per-visit expiry")
    )
    app = service_app(
        runtime, "Health Link consent", "Patients, participating hospitals and consents."
    )
    app.state.deps = deps
    app.state.settings = settings
    for router in (patients, consent, fhir_router, hospitals):
        app.include_router(router)
    return app
