"""Composition root of the audit service."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from services.audit.api import router
from services.audit.handlers import on_access_event
from services.audit.repository import AuditLog
from shared import topics
from shared.runtime import make_runtime, service_app
from shared.settings import Settings

SERVICE = "audit"


def create_app(settings: Settings) -> FastAPI:
    runtime = make_runtime(settings, SERVICE)
    audit_log = AuditLog(runtime.db)
    runtime.on_start.append(audit_log.ensure_indexes)
    runtime.subscribe_raw(topics.ACCESS_EVENTS, partial(on_access_event, audit_log))
    app = service_app(
        runtime,
        "Health Link audit",
        "A tamper-evident record of every access, readable by the patient.",
    )
    app.state.audit_log = audit_log
    app.state.settings = settings
    app.include_router(router)
    return app
