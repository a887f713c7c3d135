"""Documents written before notify's index-friendly fields, brought in once per database.

Digest items were parked with ``digest: None`` until claimed; they are parked with
``""`` now (``digest.UNCLAIMED``: FerretDB 1.24 never pushes a ``null`` match down).
A database holding older items gets them rewritten at the service's start, once
(``shared.indexes.once``). A rolling upgrade must stop the old instances first: an
item an old instance parks afterwards would never be claimed.
"""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from services.notify.digest import UNCLAIMED
from shared.database import Document
from shared.indexes import once


async def migrate(db: AsyncDatabase[Document]) -> None:
    await once(db, "notify.digest_unclaimed", lambda: unclaimed_items(db))


async def unclaimed_items(db: AsyncDatabase[Document]) -> int:
    """Items parked as unclaimed with ``None``: ``""`` now."""
    moved = await db.digest_items.update_many({"digest": None}, {"$set": {"digest": UNCLAIMED}})
    return moved.modified_count
