"""Auth use cases, the core: what they run on (``Deps``), identity state changes with
their outbox, security events, and calls into authlib's core in a worker thread.

Use cases by concern: ``physicians.py`` (licences, rosters, the physicians' sign-in),
``patients.py`` (the wallet's OTP and face scan), ``authorize.py`` (the
authorization endpoint's steps), ``clients.py`` (client registration, operators).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from services.auth.errors import ConcurrentChange
from services.auth.grants import Ctx
from services.auth.interactions import Interactions
from services.auth.oauth import AuthServer
from services.auth.oauthstore import OAuthStore
from services.auth.otp import OtpSender
from services.auth.pins import PinChecker
from services.auth.repository import KINDS, Patients, Pins, StateLog, state_doc_id
from services.auth.settings import AuthSettings
from services.auth.slots import Attempts
from services.auth.throttle import Throttle
from services.auth.verifier import ScanVerifier
from shared.broker import EventPublisher
from shared.errors import Transient
from shared.events import Envelope, Event, topic_of
from shared.logging import get_correlation_id, get_logger
from shared.projections import ConsentProjection

log = get_logger(__name__)
SOURCE = "healthlink/auth"
MAX_TRIES = 5
RELAY_GRACE = timedelta(seconds=5)
T = TypeVar("T")


@dataclass
class Deps:
    settings: AuthSettings
    states: StateLog
    pins: Pins
    patients: Patients
    view: ConsentProjection  # hospitals, from hospital events
    attempts: Attempts
    interactions: Interactions
    store: OAuthStore
    server: AuthServer
    publisher: EventPublisher
    checker: PinChecker
    throttle: Throttle
    otp: OtpSender
    scans: ScanVerifier

    @property
    def ctx(self) -> Ctx:
        ctx: Ctx = self.server.ctx
        return ctx

    def now(self) -> datetime:
        return self.ctx.clock()


def event(payload: Event, subject: str, event_id: str | None = None) -> Envelope:
    return payload.envelope(
        source=SOURCE, subject=subject, event_id=event_id, correlation_id=get_correlation_id()
    )


async def publish(deps: Deps, payload: Event, subject: str) -> None:
    """Publish a security event; if the broker cannot take it, the action fails (503)
    rather than happen unrecorded."""
    envelope = event(payload, subject)
    try:
        await deps.publisher.publish(topic_of(envelope), envelope)
    except Exception as exc:
        log.error("security event not published", type=envelope.type, error=type(exc).__name__)
        raise Transient("the security log is unavailable; try again") from exc


async def in_thread(deps: Deps, call: Callable[..., T], *args: Any) -> T:
    """Run an authlib call in a worker thread; publish the security events it produced."""
    try:
        return await asyncio.to_thread(call, *args)
    finally:
        for payload in deps.ctx.drain():
            await publish(deps, payload, str(getattr(payload, "client_id", "auth")))


Apply = Callable[[int, dict[str, Any]], tuple[dict[str, Any], Event] | None]


async def change(deps: Deps, kind: str, key: str, apply: Apply) -> tuple[int, dict[str, Any]]:
    """Write the next version of ``key``'s state with its event, then publish it.

    ``apply(version, state)`` returns the new state and its event, or None when
    nothing changes. The version is won by inserting it (``StateLog.append``).
    """
    for _ in range(MAX_TRIES):
        version, state = await deps.states.latest(kind, key)
        step = apply(version, state)
        if step is None:
            return version, state
        new_state, payload = step
        envelope = event(payload, key, event_id=f"identity-{kind}-{key}-{version + 1}")
        if await deps.states.append(kind, key, version + 1, new_state, envelope):
            await publish_stored(deps, kind, state_doc_id(key, version + 1), envelope)
            return version + 1, new_state
    raise ConcurrentChange("too many concurrent changes; try again")


async def publish_stored(deps: Deps, kind: str, doc_id: str, envelope: Envelope) -> None:
    await deps.publisher.publish(topic_of(envelope), envelope)
    await deps.states.published(kind, doc_id)


async def relay(deps: Deps, grace: timedelta = RELAY_GRACE) -> int:
    """Publish identity events a crash left unpublished; returns how many."""
    cutoff = deps.now() - grace
    sent = 0
    for kind in KINDS:
        for doc_id, envelope in await deps.states.unpublished(kind, cutoff):
            await publish_stored(deps, kind, doc_id, envelope)
            sent += 1
    if sent:
        log.info("outbox relayed", events=sent)
    return sent


async def purge(deps: Deps) -> bool:
    """Delete expired attempt slots, interactions, codes, refresh tokens and markers."""
    now = deps.now()
    await deps.attempts.purge(now)
    await deps.interactions.purge(now)
    await asyncio.to_thread(deps.store.purge, now)
    return False
