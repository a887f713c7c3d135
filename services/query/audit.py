"""What the query service tells the auditors: access events and security events.

- ``audited``: exactly one ``record.accessed`` on ``ACCESS_EVENTS`` (key CID) per
  patient request, allowed or denied, whatever happens inside.
- ``security``: ``physician.signed_in``, ``physician.sign_in_failed``,
  ``physician.locked_out``, ``roster.physician_added``, ``roster.physician_removed``,
  ``access.break_glass_declared`` on ``SECURITY_EVENTS`` (key licence); data always
  has ``physician``, ``hospital``, ``time``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Protocol

from services.query import access
from services.query.access import AccessContext
from shared import topics
from shared.events import Envelope, make_event
from shared.logging import get_correlation_id

SOURCE = "healthlink/query"


class EventPublisher(Protocol):
    async def publish(self, topic: str, event: Envelope) -> None: ...


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
            data = access.complete(ctx)
            data["time"] = self._clock().isoformat()
            data["correlation_id"] = get_correlation_id()
            event = make_event(
                "record.accessed",
                source=SOURCE,
                subject=ctx.patient[:32] or "-",
                data=data,
                correlation_id=get_correlation_id(),
            )
            await self._publisher.publish(topics.ACCESS_EVENTS, event)

    async def security(self, name: str, physician: str, hospital: str, **details: Any) -> None:
        data = {"physician": physician, "hospital": hospital,
                "time": self._clock().isoformat(), **details}  # fmt: skip
        event = make_event(
            name,
            source=SOURCE,
            subject=physician[:32] or "-",
            data=data,
            correlation_id=get_correlation_id(),
        )
        await self._publisher.publish(topics.SECURITY_EVENTS, event)
