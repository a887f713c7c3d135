"""Composition root of the query service."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from fastapi import FastAPI

from services.query import subscribers
from services.query.api import admin, bulk, discovery, fhir, patients
from services.query.audit import Auditor
from services.query.chartparts import ChartCache
from services.query.chartstore import ChartStore
from services.query.exportstore import MongoExportJobs
from services.query.freshness import KafkaFreshness
from services.query.handlers import Deps
from services.query.indexes import INDEXES
from services.query.lockout import MongoSignInFailures
from services.query.projector import Projector, project_charts
from services.query.repository import MongoBreakGlassLog, MongoLicenceRegistry, MongoRosters
from services.query.settings import QuerySettings
from shared import topics
from shared.auth import TokenVerifier
from shared.indexes import ensuring
from shared.projections import ConsentProjection
from shared.runtime import Runtime, make_runtime, service_app

SERVICE = "query"
SETTINGS = QuerySettings


def now() -> datetime:
    return datetime.now(UTC)


def mongo_deps(settings: QuerySettings, runtime: Runtime) -> Deps:
    """The use cases on the service's database (nothing connects until it is used)."""
    db = runtime.db
    verifier = TokenVerifier(
        issuer=settings.issuer,
        audience=settings.fhir_base,
        jwks_url=settings.jwks_url,
    )
    freshness = KafkaFreshness(settings, SERVICE, runtime.group_id, settings.query_read_wait_s)
    runtime.on_stop.append(freshness.close)
    return Deps(
        registry=MongoLicenceRegistry(db),
        rosters=MongoRosters(db),
        failures=MongoSignInFailures(
            db, settings.max_sign_in_failures, settings.sign_in_failure_window_s,
            settings.lockout_s,
        ),
        glass=MongoBreakGlassLog(db),
        view=ConsentProjection.in_database(db),
        charts=ChartStore(db, ChartCache(settings.chart_cache_bytes)),
        auditor=Auditor(runtime.publisher, now),
        secret=settings.token_secret,
        token_ttl_s=settings.token_ttl_s,
        settings=settings,
        clock=now,
        freshness=freshness,
        verifier=verifier,
        exports=MongoExportJobs(db),
    )  # fmt: skip


def create_app(settings: QuerySettings, *, deps: Deps | None = None) -> FastAPI:
    """The query service; with ``deps``, its use cases (and chart merges) run on them."""
    runtime = make_runtime(settings, SERVICE)
    # The projector process builds its own MongoDB chart store: with ``deps`` given,
    # stored records are merged inline into ``deps.charts`` instead.
    inline = settings.query_projector == "inline" or deps is not None
    if deps is None:
        runtime.on_start.append(ensuring(runtime.db, INDEXES, settings.pg_dsn))
    deps = deps or mongo_deps(settings, runtime)
    runtime.subscribe_events(topics.CONSENT_EVENTS, partial(subscribers.on_consent_event, deps))
    runtime.subscribe_events(topics.HOSPITAL_EVENTS, partial(subscribers.on_hospital_event, deps))
    project_charts(runtime, deps.charts, inline=inline)
    projector = None if inline else Projector(settings)
    if projector is not None:  # a child process at a lower CPU priority merges
        runtime.background(projector.supervise)
        runtime.checks["charts-projector"] = projector.ready
        runtime.lag_reports.append(projector.lags)
    app = service_app(
        runtime, "Health Link query", "Physicians read consented records; every read is audited."
    )
    app.state.deps = deps
    app.state.hospitals = deps.view  # admin keys (shared/hospital_auth.py)
    app.state.projector = projector
    app.state.settings = settings
    app.state.security_publisher = deps.auditor.publisher  # operators' actions
    app.include_router(admin)
    app.include_router(patients)
    app.include_router(bulk)  # before fhir: its paths would match fhir's /{rtype}/{rid}
    app.include_router(fhir)
    app.include_router(discovery)
    return app
