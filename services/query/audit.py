"""What the query service tells the auditors: access events and security events.

- ``audited``: exactly one ``RecordAccessed`` on ``ACCESS_EVENTS`` (key CID) per
  authenticated patient request, allowed or denied, whatever happens inside. A request
  without a valid token is not an access by anyone: it is refused (401) and logged as
  a security warning, and does not land in the patient's access log (so nobody can
  bury a real access under junk: issue 12).
- ``security``: a ``SecurityEvent`` (sign-ins, failures, lock-outs, roster changes,
  break-glass declarations) on ``SECURITY_EVENTS`` (key licence).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from services.query import access
from services.query.access import AccessContext
from shared.broker import EventPublisher
from shared.events import RecordAccessed, SecurityEvent
from shared.logging import get_correlation_id, get_logger

SOURCE = "healthlink/query"
log = get_logger(__name__)


class Auditor:
    def __init__(self, publisher: EventPublisher, clock: Callable[[], datetime]) -> None:
        self._publisher = publisher
        self._clock = clock

    @property
    def publisher(self) -> EventPublisher:
        return self._publisher

    @asynccontextmanager
    async def audited(self, ctx: AccessContext) -> AsyncIterator[AccessContext]:
        """Publish exactly one access event for the request, whatever happens inside."""
        try:
            yield ctx
        finally:
            if ctx.requester is None:
                log.warning("unauthenticated patient request refused", endpoint=ctx.endpoint,
                            reason=ctx.reason)  # fmt: skip
            else:
                await self._access_event(ctx)

    async def _access_event(self, ctx: AccessContext) -> None:
        correlation_id = get_correlation_id()
        accessed = RecordAccessed(
            **access.complete(ctx), time=self._clock(), correlation_id=correlation_id
        )
        event = accessed.envelope(
            source=SOURCE, subject=ctx.patient[:32] or "-", correlation_id=correlation_id
        )
        await self._publisher.publish(RecordAccessed.TOPIC, event)

    async def security(self, payload: SecurityEvent) -> None:
        event = payload.envelope(
            source=SOURCE,
            subject=payload.physician[:32] or "-",
            correlation_id=get_correlation_id(),
        )
        await self._publisher.publish(payload.TOPIC, event)
