"""Operators and auditors are people: who holds an operator's request, and what they did.

Every service's operator endpoints take the caller from here. A named operator is an
``operator-tool`` client of the auth service (``healthlink operators add NAME --role
operator``) that gets a short-lived ES256 access token with ``client_credentials`` and
``private_key_jwt``; its ``roles`` claim says what it may do:

- ``operator``: change things (hospitals, licences, dead-letter retries) and read;
- ``auditor``: read only (audit search and verify, dead-letter lists); a change is 403.

The token is verified with ``shared.auth.TokenVerifier`` against the auth service's JWK
set (``Settings.issuer``, ``token_audience``, ``jwks_url``). The static
``HEALTHLINK_ADMIN_TOKEN`` remains only as the break-glass **bootstrap** identity
(development and tests; production refuses it unless ``HEALTHLINK_ADMIN_TOKEN_ENABLED``):
its actions are recorded under the name ``bootstrap``.

Every change an operator makes is an ``OperatorActed`` security event under the
operator's name (``acted``), published before the answer: if the security log cannot take
it, the answer is 503 rather than an unrecorded action. A service with an outbox writes
it with the change instead (``recorder``: consent), so the two cannot part.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from shared.auth import TokenVerifier, bearer_token
from shared.broker import EventPublisher
from shared.errors import Forbidden, Transient, Unauthorized
from shared.events import Envelope, OperatorActed, topic_of
from shared.logging import get_correlation_id, get_logger
from shared.settings import Settings

log = get_logger(__name__)
BOOTSTRAP = "bootstrap"
OPERATOR = "operator"
AUDITOR = "auditor"
ROLES = (OPERATOR, AUDITOR)


@dataclass(frozen=True)
class Operator:
    """A person acting on the platform: their name (the auth client id) and roles."""

    name: str
    roles: tuple[str, ...]
    bootstrap: bool = False

    def may_change(self) -> bool:
        return OPERATOR in self.roles

    def may_read(self) -> bool:
        return any(role in ROLES for role in self.roles)


BOOTSTRAP_OPERATOR = Operator(BOOTSTRAP, (OPERATOR, AUDITOR), bootstrap=True)


def verifier_for(settings: Settings) -> TokenVerifier:
    """A verifier of the auth service's access tokens, as this platform's settings say."""
    return TokenVerifier(
        issuer=settings.issuer, audience=settings.token_audience, jwks_url=settings.jwks_url
    )


def token_verifier(request: Request) -> TokenVerifier:
    """The app's verifier of the auth service's tokens (``app.state.token_verifier``),
    made on first use: operators' tokens, and hospital systems' on ingest's uploads."""
    state = request.app.state
    found: TokenVerifier | None = getattr(state, "token_verifier", None)
    if found is None:
        found = state.token_verifier = verifier_for(state.settings)
    return found


async def identify(settings: Settings, verifier: TokenVerifier, token: str) -> Operator:
    """The operator or auditor holding ``token``: ``Unauthorized`` for no valid token,
    ``Forbidden`` for a valid token without an operator's or auditor's role."""
    if settings.bootstrap_token_allowed and hmac.compare_digest(
        token.encode(), settings.admin_token.encode()
    ):
        return BOOTSTRAP_OPERATOR
    try:
        principal = await verifier.verify(token)
    except Unauthorized as exc:
        raise Unauthorized(f"an operator's or auditor's token is required: {exc.detail}") from exc
    roles = tuple(role for role in principal.roles if role in ROLES)
    if not roles:
        raise Forbidden("an operator's or auditor's token is required")
    return Operator(principal.client_id, roles)


async def operator_of(request: Request) -> Operator:
    """Anyone with an operator's or auditor's role (reads)."""
    token = bearer_token(request.headers.get("authorization"))
    return await identify(request.app.state.settings, token_verifier(request), token)


async def changer_of(request: Request) -> Operator:
    """An operator with the ``operator`` role (changes); an auditor is refused (403)."""
    found = await operator_of(request)
    if not found.may_change():
        raise Forbidden(f"{found.name} is an auditor: reading only, no changes")
    return found


ReaderDep = Annotated[Operator, Depends(operator_of)]
ChangerDep = Annotated[Operator, Depends(changer_of)]


def security_publisher(request: Request) -> EventPublisher:
    """Where this app publishes security events: ``app.state.security_publisher`` when a
    composition root set one (the use cases' publisher), else the runtime's."""
    state = request.app.state
    found: EventPublisher | None = getattr(state, "security_publisher", None)
    if found is None:
        found = state.runtime.publisher
    return found


def acted_event(
    request: Request,
    who: Operator,
    action: str,
    target: str,
    detail: dict[str, str] | None = None,
) -> Envelope:
    """An operator's action as an ``OperatorActed`` security event (key: the operator's
    name), from the service answering ``request``."""
    service = str(getattr(getattr(request.app.state, "runtime", None), "service", "platform"))
    payload = OperatorActed(
        operator=who.name,
        action=action,
        target=target[:200],
        time=datetime.now(UTC),
        detail={"service": service, "roles": " ".join(who.roles), **(detail or {})},
    )
    return payload.envelope(
        source=f"healthlink/{service}", subject=who.name, correlation_id=get_correlation_id()
    )


def recorder(
    request: Request, who: Operator, action: str, target: str, detail: dict[str, str]
) -> Callable[[int], Envelope]:
    """The operator's action for a versioned change, made once the new version is known
    (consent writes it with the change it records, in the same outbox: one write)."""
    return lambda version: acted_event(
        request, who, action, target, {**detail, "version": str(version)}
    )


async def acted(
    request: Request,
    who: Operator,
    action: str,
    target: str,
    detail: dict[str, str] | None = None,
) -> None:
    """Record an operator's action as an ``OperatorActed`` security event (key: the
    operator's name); 503 if the security log cannot take it."""
    envelope = acted_event(request, who, action, target, detail)
    try:
        await security_publisher(request).publish(topic_of(envelope), envelope)
    except Exception as exc:
        log.error("operator action not recorded", action=action, error=type(exc).__name__)
        raise Transient("the security log is unavailable; try again") from exc
    log.info("operator acted", operator=who.name, action=action, target=target[:200])
