"""The patient's inbox and preferences (wallet app); the webhook's set-aside (operators).

Thin: each route checks who is calling and hands over to a use case (``inbox.py``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from services.notify import inbox
from services.notify.domain import Preference
from services.notify.handlers import Deps
from shared.http import AuditorDep, PatientDep, same_patient
from shared.operators import ChangerDep, acted


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


DepsDep = Annotated[Deps, Depends(get_deps)]
Offset = Annotated[int, Query(ge=0, le=100_000)]
Count = Annotated[int, Query(ge=1, le=200)]

router = APIRouter(prefix="/patients", tags=["inbox"])
operator = APIRouter(prefix="/webhook", tags=["webhook"], dependencies=[AuditorDep])


class PreferencesBody(BaseModel):
    accesses: Preference


@router.get("/{cid}/inbox")
async def read_inbox(
    cid: str, deps: DepsDep, me: PatientDep, offset: Offset = 0, count: Count = 50
) -> dict[str, Any]:
    """The patient's notifications, newest first, paged."""
    same_patient(cid, me)
    return await inbox.read_inbox(deps, cid, offset, count)


@router.post("/{cid}/inbox/{notification_id}/read")
async def update_read(
    cid: str, notification_id: str, deps: DepsDep, me: PatientDep
) -> dict[str, Any]:
    """Mark a notification read."""
    same_patient(cid, me)
    return await inbox.mark_read(deps, cid, notification_id)


@router.get("/{cid}/preferences")
async def read_preferences(cid: str, deps: DepsDep, me: PatientDep) -> dict[str, Any]:
    """How the patient is told about accesses: at once, or in an hourly digest."""
    same_patient(cid, me)
    return await inbox.read_preferences(deps, cid)


@router.put("/{cid}/preferences")
async def update_preferences(
    cid: str, body: PreferencesBody, deps: DepsDep, me: PatientDep
) -> dict[str, Any]:
    """Choose immediate or hourly access notifications (break-glass is always immediate)."""
    same_patient(cid, me)
    return await inbox.choose_preferences(deps, cid, body.accesses)


@operator.get("/set-aside")
async def read_set_aside(deps: DepsDep, offset: Offset = 0, count: Count = 50) -> dict[str, Any]:
    """Notifications the webhook did not accept after the last attempt."""
    return await inbox.read_set_aside(deps, offset, count)


@operator.post("/set-aside/{notification_id}/retry")
async def create_retry(
    request: Request, notification_id: str, deps: DepsDep, me: ChangerDep
) -> dict[str, Any]:
    """Queue a set-aside notification again (operators; auditors read only)."""
    found = await inbox.retry_set_aside(deps, notification_id)
    await acted(request, me, "notification.retried", notification_id[:64])
    return found
