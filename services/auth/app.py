"""Composition root of the auth service."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError

from services.auth import subscribers
from services.auth.api import discovery, oauth, operators, rosters
from services.auth.clients import bootstrap_operator, bootstrap_portal
from services.auth.grants import Ctx
from services.auth.handlers import Deps, purge, relay
from services.auth.indexes import INDEXES
from services.auth.interactions import Interactions, MongoInteractions
from services.auth.keys import SigningKeys
from services.auth.oauth import AuthServer
from services.auth.oauthstore import MongoOAuthStore, OAuthStore, sync_database
from services.auth.otp import FileOtpSender, OtpSender, WebhookOtpSender
from services.auth.pins import PinChecker
from services.auth.repository import (
    MongoPatients,
    MongoPins,
    MongoStateLog,
    Patients,
    Pins,
    StateLog,
)
from services.auth.settings import AuthSettings
from services.auth.signin import router as signin
from services.auth.slots import Attempts, MongoAttempts
from services.auth.throttle import Throttle
from services.auth.verifier import ConsentScanVerifier, ScanVerifier
from shared import topics
from shared.auth import TokenVerifier
from shared.broker import EventPublisher
from shared.http import outcome_response
from shared.indexes import ensuring
from shared.logging import get_logger
from shared.projections import ConsentProjection
from shared.runtime import Runtime, every, make_runtime, service_app
from shared.wallet import wallet_claims

SERVICE = "auth"
SETTINGS = AuthSettings
log = get_logger(__name__)


def build_deps(
    settings: AuthSettings,
    *,
    states: StateLog,
    pins: Pins,
    patients: Patients,
    view: ConsentProjection,
    attempts: Attempts,
    interactions: Interactions,
    store: OAuthStore,
    publisher: EventPublisher,
    otp: OtpSender,
    scans: ScanVerifier,
    keys: SigningKeys | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Deps:
    """The use cases' dependencies over the given stores (MongoDB, or fakes in tests)."""
    ctx = Ctx(
        store=store,
        keys=keys or SigningKeys.from_settings(settings),
        settings=settings,
        clock=clock,
    )
    return Deps(
        settings=settings,
        states=states,
        pins=pins,
        patients=patients,
        view=view,
        attempts=attempts,
        interactions=interactions,
        store=store,
        server=AuthServer(ctx),
        publisher=publisher,
        checker=PinChecker(
            settings.auth_argon2_concurrency,
            memory_kib=settings.auth_argon2_memory_kib,
            time_cost=settings.auth_argon2_time_cost,
        ),
        throttle=Throttle(settings.auth_throttle_per_address, settings.auth_throttle_global),
        otp=otp,
        scans=scans,
    )


def wallet_token(settings: AuthSettings, keys: SigningKeys) -> str:
    """The auth service's own short-lived token for consent's verification
    (``shared/wallet.py``)."""
    return keys.sign(wallet_claims(settings.auth_issuer, settings.auth_audience), "at+jwt")


def database_deps(settings: AuthSettings, runtime: Runtime) -> Deps:
    """MongoDB everywhere; the OAuth store through a synchronous client of its own."""
    sync_client, sync_db = sync_database(settings, SERVICE)
    store = MongoOAuthStore(sync_db)
    states, attempts = MongoStateLog(runtime.db), MongoAttempts(runtime.db)
    interactions = MongoInteractions(runtime.db)
    keys = SigningKeys.from_settings(settings)
    otp: OtpSender = (
        WebhookOtpSender(settings.auth_otp_webhook_url)
        if settings.auth_otp_sender == "webhook" and settings.auth_otp_webhook_url
        else FileOtpSender(settings.data_dir)
    )
    scans = ConsentScanVerifier(settings.consent_url, partial(wallet_token, settings, keys))
    deps = build_deps(
        settings,
        states=states,
        pins=MongoPins(runtime.db),
        patients=MongoPatients(runtime.db),
        view=ConsentProjection.in_database(runtime.db),
        attempts=attempts,
        interactions=interactions,
        store=store,
        publisher=runtime.publisher,
        otp=otp,
        scans=scans,
        keys=keys,
    )

    async def close_sync_client() -> None:
        await asyncio.to_thread(sync_client.close)

    runtime.on_start.append(ensuring(runtime.db, INDEXES, settings.pg_dsn))
    runtime.on_stop.append(close_sync_client)
    runtime.on_stop.append(scans.close)
    if isinstance(otp, WebhookOtpSender):
        runtime.on_stop.append(otp.close)
    operator = settings.auth_bootstrap_operator
    if operator:
        given = settings.auth_bootstrap_operator_jwks
        jwks = json.loads(given) if given else None

        async def bootstrap() -> None:
            path = await bootstrap_operator(deps, operator, settings.data_dir, jwks)
            log.info("bootstrap operator ready", client_id=operator, key=str(path or "given"))

        runtime.on_start.append(bootstrap)
    portal = settings.auth_portal_client
    if portal:
        given_portal = settings.auth_portal_client_jwks
        portal_jwks = json.loads(given_portal) if given_portal else None

        async def register_portal() -> None:
            uris = settings.auth_portal_redirect_uris
            path = await bootstrap_portal(deps, portal, uris, settings.data_dir, portal_jwks)
            log.info("portal client ready", client_id=portal, key=str(path or "given"))

        runtime.on_start.append(register_portal)
    return deps


def create_app(settings: AuthSettings, *, deps: Deps | None = None) -> FastAPI:
    runtime = make_runtime(settings, SERVICE)
    if settings.environment != "production" and settings.auth_issuer.startswith("http://"):
        os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # authlib's development switch
    if deps is None:
        deps = database_deps(settings, runtime)
    runtime.subscribe_events(topics.HOSPITAL_EVENTS, partial(subscribers.on_hospital_event, deps))
    runtime.subscribe_events(topics.CONSENT_EVENTS, partial(subscribers.on_consent_event, deps))
    runtime.background(every(settings.auth_relay_interval_s, partial(relay, deps), "outbox relay"))
    runtime.background(every(settings.auth_purge_interval_s, partial(purge, deps), "purge"))
    app = service_app(
        runtime,
        "Health Link auth",
        "SMART on FHIR authorization server: sign-in, tokens, clients, licences, rosters.",
    )
    keys = deps.ctx.keys
    app.state.deps = deps
    app.state.hospitals = deps.view  # admin keys (shared/hospital_auth.py)
    app.state.settings = settings
    app.state.keys = keys
    app.state.verifier = TokenVerifier(
        issuer=settings.auth_issuer, audience=settings.auth_audience, jwks=keys.public_jwks()
    )
    app.state.token_verifier = app.state.verifier  # the shared /admin router's operators
    app.state.security_publisher = deps.publisher
    for router in (discovery, oauth, signin, operators, rosters):
        app.include_router(router)

    @app.exception_handler(PyMongoError)
    async def _database_down(_: Request, exc: PyMongoError) -> JSONResponse:
        log.error("database error", error=type(exc).__name__)
        return outcome_response(503, "the database is unavailable; try again shortly")

    return app
