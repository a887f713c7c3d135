"""Composition root of the audit service."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from services.audit import handlers
from services.audit.api import router
from services.audit.handlers import Deps
from services.audit.repository import AuditLog
from services.audit.sources import ENVELOPE_TOPICS, KINDS
from shared import topics
from shared.runtime import make_runtime, service_app
from shared.settings import Settings

SERVICE = "audit"


def create_app(settings: Settings) -> FastAPI:
    runtime = make_runtime(settings, SERVICE)
    audit_log = AuditLog(runtime.db)
    deps = Deps(log=audit_log)
    runtime.on_start.append(audit_log.ensure_indexes)
    runtime.on_start.append(audit_log.reconcile)
    for topic in ENVELOPE_TOPICS:
        runtime.subscribe_raw(topic, partial(handlers.on_event, deps, KINDS[topic]))
    runtime.subscribe_raw(topics.DEAD_LETTERS, partial(handlers.on_dead_letter, deps))
    app = service_app(
        runtime,
        "Health Link audit",
        "A tamper-evident record of every access, readable by the patient.",
    )
    app.state.audit_log = audit_log
    app.state.settings = settings
    app.include_router(router)
    return app
