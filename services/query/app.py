"""Composition root of the query service."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from fastapi import FastAPI

from services.query.api import admin, fhir, patients
from services.query.audit import Auditor
from services.query.breakglass import BreakGlassLog
from services.query.chartstore import ChartCache, ChartStore
from services.query.handlers import Deps
from services.query.lockout import SignInFailures
from services.query.physicians import MongoLicenceRegistry, Rosters
from services.query.projector import Projector, project_charts
from services.query.settings import QuerySettings
from shared import topics
from shared.events import Envelope
from shared.projections import ConsentProjection
from shared.runtime import make_runtime, service_app

SERVICE = "query"
SETTINGS = QuerySettings


def now() -> datetime:
    return datetime.now(UTC)


async def on_consent_event(view: ConsentProjection, event: Envelope) -> None:
    """Consent state changes (the projection skips other events on the topic)."""
    await view.on_consent_event(event)


async def on_hospital_event(view: ConsentProjection, event: Envelope) -> None:
    await view.on_hospital_event(event)


def create_app(settings: QuerySettings, *, deps: Deps | None = None) -> FastAPI:
    runtime = make_runtime(settings, SERVICE)
    db = runtime.db
    deps = deps or Deps(
        registry=MongoLicenceRegistry(db),
        rosters=Rosters(db),
        failures=SignInFailures(
            db, settings.max_sign_in_failures, settings.sign_in_failure_window_s,
            settings.lockout_s,
        ),
        glass=BreakGlassLog(db),
        view=ConsentProjection.in_database(db),
        charts=ChartStore(db, ChartCache(settings.chart_cache_bytes)),
        auditor=Auditor(runtime.publisher, now),
        secret=settings.token_secret,
        token_ttl_s=settings.token_ttl_s,
        settings=settings,
        clock=now,
    )  # fmt: skip
    view = deps.view
    runtime.subscribe_events(topics.CONSENT_EVENTS, partial(on_consent_event, view))
    runtime.subscribe_events(topics.HOSPITAL_EVENTS, partial(on_hospital_event, view))
    inline = settings.query_projector == "inline"
    project_charts(runtime, deps.charts, inline=inline)
    if not inline:  # a child process at a lower CPU priority merges (projector.py)
        projector = Projector(settings)
        runtime.background(projector.supervise)
        runtime.checks["charts-projector"] = projector.ready
        runtime.lag_reports.append(projector.lags)
    app = service_app(
        runtime, "Health Link query", "Physicians read consented records; every read is audited."
    )
    app.state.deps = deps
    app.state.projector = None if inline else projector
    app.state.settings = settings
    app.include_router(admin)
    app.include_router(patients)
    app.include_router(fhir)
    return app
