"""The audit service's Kafka subscribers: each hands a consumed message to a use case.

Audit reads raw records (it needs the partition: one chain per partition) and keeps
envelopes whole: it checks the envelope, never the payload type.
"""

from __future__ import annotations

from services.audit import handlers
from services.audit.handlers import Deps
from shared.consumer import parse_envelope
from shared.deadletter import SourceMessage


async def on_event(deps: Deps, kind: str, source: SourceMessage) -> None:
    """An access, consent, hospital or security event: into its partition's chain, once.

    An unreadable envelope raises ``Rejected`` (the guard sets it aside on the
    dead-letter topic, which audit also records), so nothing vanishes.
    """
    await handlers.record_event(deps, kind, source.partition, parse_envelope(source))


async def on_dead_letter(deps: Deps, source: SourceMessage) -> None:
    """A message some service set aside. Never rejects (that would loop back here)."""
    await handlers.record_dead_letter(deps, source)
