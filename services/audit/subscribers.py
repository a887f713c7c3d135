"""The audit service's Kafka subscribers: each hands a consumed message to a use case.

Audit reads raw records (it needs the partition: one chain per partition) and keeps
envelopes whole: it checks the envelope, never the payload type.
"""

from __future__ import annotations

from services.audit import handlers
from services.audit.handlers import Deps
from services.audit.sources import KINDS
from shared.consumer import parse_envelope
from shared.deadletter import SourceMessage
from shared.topics import HOSPITAL_EVENTS


async def on_event(deps: Deps, kind: str, source: SourceMessage) -> None:
    """An access, consent, hospital or security event: into its partition's chain, once.

    An unreadable envelope raises ``Rejected`` (the guard sets it aside on the
    dead-letter topic, which audit also records), so nothing vanishes. A hospital event
    also updates audit's copy of the hospital (``shared/hospital_auth.py``: the admin key
    a hospital reads its own part of the log with).
    """
    envelope = parse_envelope(source)
    await handlers.record_event(deps, kind, source.partition, envelope)
    if kind == KINDS[HOSPITAL_EVENTS]:  # the hospital's state: its admin key's hash
        await deps.hospitals.on_hospital_event(envelope)


async def on_dead_letter(deps: Deps, source: SourceMessage) -> None:
    """A message some service set aside. Never rejects (that would loop back here)."""
    await handlers.record_dead_letter(deps, source)
