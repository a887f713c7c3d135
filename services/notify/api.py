"""The patient's inbox and preferences (wallet app); the webhook's set-aside (operators)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from services.notify.digest import Preferences
from services.notify.repository import Inbox
from services.notify.webhook import Deliveries
from shared.errors import NotFound
from shared.http import OperatorDep, PatientDep, same_patient

router = APIRouter(prefix="/patients", tags=["inbox"])


def inbox_of(request: Request) -> Inbox:
    inbox: Inbox = request.app.state.inbox
    return inbox


@router.get("/{cid}/inbox")
async def read_inbox(
    cid: str,
    request: Request,
    me: PatientDep,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    count: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The patient's notifications, newest first, paged."""
    same_patient(cid, me)
    docs = await inbox_of(request).page(cid, offset, count)
    entries = [{"id": d.pop("_id"), **{k: v for k, v in d.items() if k != "patient"}} for d in docs]
    return {"cid": cid, "offset": offset, "count": len(entries), "entries": entries}


@router.post("/{cid}/inbox/{notification_id}/read")
async def update_read(
    cid: str, notification_id: str, request: Request, me: PatientDep
) -> dict[str, Any]:
    """Mark a notification read."""
    same_patient(cid, me)
    if not await inbox_of(request).mark_read(cid, notification_id):
        raise NotFound("no such notification")
    return {"id": notification_id, "read": True}


class PreferencesBody(BaseModel):
    accesses: Literal["immediate", "hourly"]


@router.get("/{cid}/preferences")
async def read_preferences(cid: str, request: Request, me: PatientDep) -> dict[str, Any]:
    """How the patient is told about accesses: at once, or in an hourly digest."""
    same_patient(cid, me)
    prefs: Preferences = request.app.state.preferences
    return {"cid": cid, "accesses": await prefs.get(cid), "break_glass": "immediate"}


@router.put("/{cid}/preferences")
async def update_preferences(
    cid: str, body: PreferencesBody, request: Request, me: PatientDep
) -> dict[str, Any]:
    """Choose immediate or hourly access notifications (break-glass is always immediate)."""
    same_patient(cid, me)
    prefs: Preferences = request.app.state.preferences
    await prefs.put(cid, body.accesses)
    return {"cid": cid, "accesses": body.accesses, "break_glass": "immediate"}


operator = APIRouter(prefix="/webhook", tags=["webhook"], dependencies=[OperatorDep])


def deliveries_of(request: Request) -> Deliveries:
    deliveries: Deliveries | None = request.app.state.deliveries
    if deliveries is None:
        raise NotFound("no webhook is configured")
    return deliveries


@operator.get("/set-aside")
async def read_set_aside(
    request: Request,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    count: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Notifications the webhook did not accept after the last attempt."""
    docs = await deliveries_of(request).set_aside(offset, count)
    entries = [
        {"id": d["_id"], "attempts": d["attempts"], "error": d.get("last_error")} for d in docs
    ]
    return {"offset": offset, "count": len(entries), "entries": entries}


@operator.post("/set-aside/{notification_id}/retry")
async def create_retry(notification_id: str, request: Request) -> dict[str, Any]:
    """Queue a set-aside notification again."""
    if not await deliveries_of(request).retry(notification_id):
        raise NotFound("no such set-aside notification")
    return {"id": notification_id, "state": "pending"}
