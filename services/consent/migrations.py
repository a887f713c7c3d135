"""Documents written before the index-friendly fields, brought in once per database.

``outbox_pending`` (the relay's flag) and ``expiry_day`` (the expiry sweep's key) are
written with every change since they were introduced; a database holding older
documents gets them at the service's start, once (``shared.indexes.once``): one read
of each collection, then never again. A rolling upgrade must stop the old instances
first: a document an old instance writes afterwards lacks the fields.
"""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from services.consent.domain import expiry_day
from services.consent.repository import EXPIRY_SWEEP, KINDS, PENDING
from shared.database import Document
from shared.indexes import once


async def migrate(db: AsyncDatabase[Document]) -> None:
    await once(db, "consent.outbox_pending", lambda: flag_outboxes(db))
    await once(db, "consent.expiry_day", lambda: add_expiry_days(db))


async def flag_outboxes(db: AsyncDatabase[Document]) -> int:
    """Flag every document whose outbox holds events."""
    flagged = 0
    for kind in KINDS:
        held = {"outbox.0": {"$exists": True}, PENDING: {"$ne": True}}
        flagged += (await db[kind].update_many(held, {"$set": {PENDING: True}})).modified_count
    return flagged


async def add_expiry_days(db: AsyncDatabase[Document]) -> int:
    """Give every consent with a next expiry its day; the sweep starts at the earliest."""
    days: list[str] = []
    async for doc in db.consents.find({"next_expiry": {"$ne": None}}, {"next_expiry": 1}):
        day = str(expiry_day(doc["next_expiry"]))
        await db.consents.update_one({"_id": doc["_id"]}, {"$set": {"expiry_day": day}})
        days.append(day)
    if days:
        sweep = await db.sweeps.find_one({"_id": EXPIRY_SWEEP}) or {}
        through = min([*days, *([sweep["through"]] if sweep.get("through") else [])])
        await db.sweeps.update_one(
            {"_id": EXPIRY_SWEEP}, {"$set": {"through": through}}, upsert=True
        )
    return len(days)
