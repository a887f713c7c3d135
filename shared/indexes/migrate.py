"""``once``: a data migration run at most once per database (``migrations`` collection).

A query rewritten so an index serves it (docs/indexes.md) must still find documents
written before the rewrite; the service migrates them at start, once:

    runtime.on_start.append(lambda: once(runtime.db, "outbox_pending", repo.flag_outboxes))

The step must be idempotent: two instances starting together may both run it (the
marker is written after the step, and a second marker is ignored). A step that fails
leaves no marker, so the next start runs it again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.database import Document
from shared.logging import get_logger

log = get_logger(__name__)
MIGRATIONS = "migrations"


async def once(db: AsyncDatabase[Document], name: str, step: Callable[[], Awaitable[int]]) -> bool:
    """Run ``step`` unless ``name`` is marked done in ``db``; True when it ran now.

    ``step`` returns how many documents it changed (logged)."""
    if await db[MIGRATIONS].find_one({"_id": name}, {"_id": 1}) is not None:
        return False
    changed = await step()
    done = {"_id": name, "at": datetime.now(UTC), "changed": changed}
    with contextlib.suppress(DuplicateKeyError):  # another instance finished it too
        await db[MIGRATIONS].insert_one(done)
    log.info("migration done", database=db.name, migration=name, changed=changed)
    return True
