"""Composition root of the audit service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from fastapi import FastAPI

from services.audit import handlers, subscribers
from services.audit.api import router
from services.audit.handlers import Deps
from services.audit.heads import load_signing_key
from services.audit.repository import MongoAuditLog
from services.audit.settings import AuditSettings
from services.audit.sources import ENVELOPE_TOPICS, KINDS
from shared import topics
from shared.projections import ConsentProjection
from shared.runtime import every, make_runtime, service_app
from shared.settings import Settings

SERVICE = "audit"
SETTINGS = AuditSettings


def create_app(settings: Settings, *, deps: Deps | None = None) -> FastAPI:
    """The audit service; given plain ``Settings`` (tests), its own fields take their
    defaults from the environment."""
    if not isinstance(settings, AuditSettings):
        settings = AuditSettings(**settings.model_dump())
    runtime = make_runtime(settings, SERVICE)
    if deps is None:
        audit_log = MongoAuditLog(runtime.db)
        runtime.on_start.append(audit_log.ensure_indexes)
        runtime.on_start.append(audit_log.reconcile)
        key = load_signing_key(
            settings.environment,
            settings.audit_signing_key,
            settings.audit_signing_key_file,
            settings.data_dir,
        )
        hospitals = ConsentProjection.in_database(runtime.db)
        deps = Deps(log=audit_log, key=key, publisher=runtime.publisher, hospitals=hospitals)
    if deps.key is not None and deps.publisher is not None:
        runtime.background(every(settings.audit_head_interval_s, _signing(deps), "audit heads"))
    for topic in ENVELOPE_TOPICS:
        runtime.subscribe_raw(topic, partial(subscribers.on_event, deps, KINDS[topic]))
    runtime.subscribe_raw(topics.DEAD_LETTERS, partial(subscribers.on_dead_letter, deps))
    app = service_app(
        runtime,
        "Health Link audit",
        "A tamper-evident record of every access, readable by the patient.",
    )
    app.state.deps = deps
    app.state.hospitals = deps.hospitals  # admin keys (shared/hospital_auth.py)
    app.state.settings = settings
    app.include_router(router)
    return app


def _signing(deps: Deps) -> Callable[[], Awaitable[None]]:
    """One round of head signing; never "busy", so rounds are ``interval`` apart."""

    async def step() -> None:
        await handlers.sign_heads(deps)

    return step
