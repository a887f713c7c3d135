"""The audit HTTP API: a patient's access log, and chain verification for operators."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from services.audit import handlers
from services.audit.repository import AuditLog
from shared.http import OperatorDep, PatientDep, same_patient

router = APIRouter(tags=["audit"])


def get_log(request: Request) -> AuditLog:
    log_: AuditLog = request.app.state.audit_log
    return log_


LogDep = Annotated[AuditLog, Depends(get_log)]


@router.get("/patients/{cid}/accesses")
async def read_accesses(
    cid: str,
    log_: LogDep,
    me: PatientDep,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    count: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Who looked at my record: newest first, paged."""
    same_patient(cid, me)
    entries = await handlers.who_looked(log_, cid, offset, count)
    return {"cid": cid, "offset": offset, "count": len(entries), "entries": entries}


@router.get("/audit/verify", dependencies=[OperatorDep])
async def read_verification(log_: LogDep) -> dict[str, Any]:
    """Recompute every chain; report the first breach of each."""
    breaches = await handlers.verify(log_)
    return {"ok": not breaches, "breaches": [asdict(b) for b in breaches]}
