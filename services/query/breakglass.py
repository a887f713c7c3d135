"""Break-glass declarations: a physician's written emergency reason, valid for a while.

One document per (licence, hospital, patient); declaring again renews it. The
declaration is published as a security event and every read under it is audited
as break-glass (``access.complete``).
"""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from services.query.access import BreakGlass
from shared.database import Document


def glass_id(licence: str, hospital: str, cid: str) -> str:
    return f"{licence}|{hospital}|{cid}"


class BreakGlassLog:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db.break_glass

    async def declare(
        self, licence: str, hospital: str, cid: str, reason: str, at: datetime, until: datetime
    ) -> None:
        await self._coll.update_one(
            {"_id": glass_id(licence, hospital, cid)},
            {"$set": {"licence": licence, "hospital": hospital, "patient": cid,
                      "reason": reason, "declared_at": at, "until": until}},
            upsert=True,
        )  # fmt: skip

    async def active(
        self, licence: str, hospital: str, cid: str, now: datetime
    ) -> BreakGlass | None:
        doc = await self._coll.find_one({"_id": glass_id(licence, hospital, cid)})
        if doc is None or doc["until"] <= now:
            return None
        return BreakGlass(reason=str(doc["reason"]), until=doc["until"])
