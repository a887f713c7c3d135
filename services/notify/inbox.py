"""Use cases behind the HTTP API: the patient's inbox and preferences (wallet app), and
the webhook's set-aside deliveries (operators)."""

from __future__ import annotations

from typing import Any

from services.notify.domain import Preference
from services.notify.errors import NotificationNotFound, NotSetAside, WebhookNotConfigured
from services.notify.handlers import Deps
from services.notify.repository import Deliveries


async def read_inbox(deps: Deps, cid: str, offset: int, count: int) -> dict[str, Any]:
    """The patient's notifications, newest first, paged."""
    docs = await deps.inbox.page(cid, offset, count)
    entries = [
        {"id": doc["_id"], **{k: v for k, v in doc.items() if k not in ("_id", "patient")}}
        for doc in docs
    ]
    return {"cid": cid, "offset": offset, "count": len(entries), "entries": entries}


async def mark_read(deps: Deps, cid: str, notification_id: str) -> dict[str, Any]:
    if not await deps.inbox.mark_read(cid, notification_id):
        raise NotificationNotFound()
    return {"id": notification_id, "read": True}


def _preferences(cid: str, accesses: Preference) -> dict[str, Any]:
    return {"cid": cid, "accesses": accesses, "break_glass": "immediate"}


async def read_preferences(deps: Deps, cid: str) -> dict[str, Any]:
    """Accesses at once or hourly; break-glass is always at once."""
    return _preferences(cid, await deps.preferences.get(cid))


async def choose_preferences(deps: Deps, cid: str, accesses: Preference) -> dict[str, Any]:
    await deps.preferences.put(cid, accesses)
    return _preferences(cid, accesses)


def _deliveries(deps: Deps) -> Deliveries:
    if deps.deliveries is None:
        raise WebhookNotConfigured()
    return deps.deliveries


async def read_set_aside(deps: Deps, offset: int, count: int) -> dict[str, Any]:
    """Webhook deliveries given up on, with their last error."""
    docs = await _deliveries(deps).set_aside(offset, count)
    entries = [
        {"id": d["_id"], "attempts": d["attempts"], "error": d.get("last_error")} for d in docs
    ]
    return {"offset": offset, "count": len(entries), "entries": entries}


async def retry_set_aside(deps: Deps, notification_id: str) -> dict[str, Any]:
    """Queue a set-aside delivery again, with fresh attempts."""
    if not await _deliveries(deps).retry(notification_id):
        raise NotSetAside()
    return {"id": notification_id, "state": "pending"}
