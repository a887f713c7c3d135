"""Composition root of the audit service."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from services.audit import subscribers
from services.audit.api import router
from services.audit.handlers import Deps
from services.audit.repository import MongoAuditLog
from services.audit.settings import AuditSettings
from services.audit.sources import ENVELOPE_TOPICS, KINDS
from shared import topics
from shared.runtime import make_runtime, service_app

SERVICE = "audit"
SETTINGS = AuditSettings


def create_app(settings: AuditSettings, *, deps: Deps | None = None) -> FastAPI:
    runtime = make_runtime(settings, SERVICE)
    if deps is None:
        audit_log = MongoAuditLog(runtime.db)
        runtime.on_start.append(audit_log.ensure_indexes)
        runtime.on_start.append(audit_log.reconcile)
        deps = Deps(log=audit_log)
    for topic in ENVELOPE_TOPICS:
        runtime.subscribe_raw(topic, partial(subscribers.on_event, deps, KINDS[topic]))
    runtime.subscribe_raw(topics.DEAD_LETTERS, partial(subscribers.on_dead_letter, deps))
    app = service_app(
        runtime,
        "Health Link audit",
        "A tamper-evident record of every access, readable by the patient.",
    )
    app.state.deps = deps
    app.state.settings = settings
    app.include_router(router)
    return app
