"""What the query service tells the auditors: access events and security events.

- ``audited``: exactly one ``RecordAccessed`` on ``ACCESS_EVENTS`` (key CID) per
  patient request, allowed or denied, whatever happens inside.
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
from shared.logging import get_correlation_id

SOURCE = "healthlink/query"


class Auditor:
    def __init__(self, publisher: EventPublisher, clock: Callable[[], datetime]) -> None:
        self._publisher = publisher
        self._clock = clock

    @asynccontextmanager
    async def audited(self, ctx: AccessContext) -> AsyncIterator[AccessContext]:
        """Publish exactly one access event for the request, whatever happens inside."""
        try:
            yield ctx
        finally:
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
