"""The semi-monthly announcement of newly participating hospitals, exactly once per slot.

On every tick (any number of notify instances, any clock): the latest due slot
(``schedule.latest_due_slot(now)``) is claimed in ``AnnouncementSlots`` under its
``slot_key``; the claim is atomic, so exactly one instance wins, and a restart finds
the slot already claimed. The claim stores which hospitals joined since the previous
announcement; the winner then notifies every patient under the id
``announce-<slot_key>-<cid>`` (so resuming a fan-out never repeats a patient) and
marks the slot done. Claimed but unfinished slots (the winner crashed) are resumed by
any instance. After downtime the latest missed slot fires late, covering every
hospital since the previous announcement: nothing is missed, nothing doubled.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.notify import texts
from services.notify.domain import Announcement, Notice, joined_between
from services.notify.handlers import Deps, notify
from services.notify.schedule import latest_due_slot, slot_key
from shared.logging import get_logger

log = get_logger(__name__)


class Announcer:
    """One notify instance's announcer (``instance`` names the claimer)."""

    def __init__(self, deps: Deps, instance: str = "notify") -> None:
        self._deps = deps
        self._instance = instance

    async def tick(self, now: datetime) -> str | None:
        """Claim and announce the latest due slot if nobody has; the key if we did."""
        await self.resume()
        slots = self._deps.slots
        slot = latest_due_slot(now)
        key = slot_key(slot)
        if await slots.holds(key):
            return None
        since = await slots.previous(slot) or latest_due_slot(slot - timedelta(seconds=1))
        joined = joined_between(await self._deps.directory.hospitals(), since, slot)
        listed = [{"code": h.get("code"), "name": h.get("name")} for h in joined]
        announcement = Announcement(key, slot, since, listed)
        if not await slots.claim(announcement, self._instance, now):
            return None  # another instance claimed it first
        log.info("announcement slot claimed", slot=key, hospitals=len(joined))
        await self._fan_out(announcement)
        return key

    async def resume(self) -> None:
        for announcement in await self._deps.slots.unfinished():
            await self._fan_out(announcement)

    async def _fan_out(self, announcement: Announcement) -> None:
        names = [str(h.get("name") or h.get("code")) for h in announcement.hospitals]
        if names:
            everyone = await self._deps.directory.all_hospitals_consents()
            data = {"slot": announcement.key, "hospitals": announcement.hospitals}
            async for cid in self._deps.patients.cids():
                text = texts.hospitals_joined(names, cid in everyone)
                notice = Notice(announcement.notice_id(cid), cid, "hospitals-joined", text, data)
                await notify(self._deps, [notice])
        await self._deps.slots.finish(announcement.key)
