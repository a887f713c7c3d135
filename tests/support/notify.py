"""The notify service's ports as in-memory fakes, wired as ``database_deps`` wires MongoDB."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.notify.deliveries import MemoryDeliveries
from services.notify.digest import MemoryDigestItems
from services.notify.handlers import Deps
from services.notify.repository import (
    MemoryDirectory,
    MemoryInbox,
    MemoryPatients,
    MemoryPreferences,
)
from services.notify.slots import MemoryAnnouncementSlots
from shared.projections import ConsentProjection, MemoryVersions


def memory_deps(clock: Callable[[], datetime], *, webhook: bool = True) -> Deps:
    """Every port in memory; the directory reads the copies the projection keeps."""
    consents, hospitals = MemoryVersions(), MemoryVersions()
    return Deps(
        inbox=MemoryInbox(),
        patients=MemoryPatients(),
        preferences=MemoryPreferences(),
        digests=MemoryDigestItems(),
        deliveries=MemoryDeliveries(clock) if webhook else None,
        slots=MemoryAnnouncementSlots(),
        directory=MemoryDirectory(consents, hospitals),
        view=ConsentProjection(consents, hospitals),
        clock=clock,
    )


def inbox_of(deps: Deps, cid: str) -> list[dict[str, object]]:
    """The patient's entries in the fake inbox, by id."""
    assert isinstance(deps.inbox, MemoryInbox)
    return sorted(
        (d for d in deps.inbox.docs.values() if d["patient"] == cid), key=lambda d: str(d["_id"])
    )


def queued(deps: Deps) -> list[str]:
    """Ids queued for the webhook."""
    assert isinstance(deps.deliveries, MemoryDeliveries)
    return sorted(deps.deliveries.docs)
