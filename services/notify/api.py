"""The patient's inbox (wallet app)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.notify.repository import Inbox
from shared.errors import NotFound
from shared.http import PatientDep, same_patient

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
