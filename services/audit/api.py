"""The audit HTTP API: the patient's access log, auditors' search and FHIR export, verify."""

from __future__ import annotations

import hmac
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from services.audit import fhir, handlers
from services.audit.repository import AuditLog
from services.audit.sources import parse_time
from shared import tokens
from shared.errors import Forbidden, InvalidInput, Unauthorized
from shared.fhir import FHIR_JSON
from shared.http import OperatorDep, PatientDep, bearer, same_patient

router = APIRouter(tags=["audit"])

Offset = Annotated[int, Query(ge=0, le=100_000)]
Count = Annotated[int, Query(ge=1, le=200)]
Code = Annotated[str | None, Query(pattern=r"^\d{5}$")]
Licence = Annotated[str | None, Query(pattern=r"^\d{3,8}$")]
Cid = Annotated[str | None, Query(pattern=r"^\d{13}$")]
Kind = Literal["access", "consent", "hospital", "security", "deadletter"]


def get_log(request: Request) -> AuditLog:
    log_: AuditLog = request.app.state.audit_log
    return log_


LogDep = Annotated[AuditLog, Depends(get_log)]


def auditor_scope(request: Request, hospital: Code = None) -> str | None:
    """Operator: everything (None). A hospital's admin key: that hospital only."""
    token = bearer(request)
    settings = request.app.state.settings
    if hmac.compare_digest(token, settings.admin_token):
        return None
    if hospital is None:
        raise Unauthorized("operator token, or a hospital admin key with ?hospital=, required")
    if not hmac.compare_digest(token, tokens.derive(settings.token_secret, "admin", hospital)):
        raise Forbidden("this key is not the admin key of that hospital")
    return hospital


ScopeDep = Annotated[str | None, Depends(auditor_scope)]


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    parsed = parse_time(value, datetime.min)
    if parsed == datetime.min:
        raise InvalidInput(f"{name} must be an ISO-8601 time")
    return parsed


async def found(
    log_: LogDep,
    scope: ScopeDep,
    physician: Licence = None,
    patient: Cid = None,
    hospital: Code = None,
    decision: Literal["permit", "deny"] | None = None,
    kind: Kind | None = None,
    since: str | None = None,
    until: str | None = None,
    offset: Offset = 0,
    count: Count = 50,
) -> list[dict[str, Any]]:
    """The audit records matching the query parameters, within the caller's scope."""
    criteria = {"physician": physician, "patient": patient, "hospital": scope or hospital,
                "decision": decision, "kind": kind}  # fmt: skip
    return await log_.search(criteria, _time(since, "since"), _time(until, "until"), offset, count)


FoundDep = Annotated[list[dict[str, Any]], Depends(found)]


@router.get("/patients/{cid}/accesses")
async def read_accesses(
    cid: str, log_: LogDep, me: PatientDep, offset: Offset = 0, count: Count = 50
) -> dict[str, Any]:
    """Who looked at my record (allowed and denied): newest first, paged."""
    same_patient(cid, me)
    entries = await handlers.who_looked(log_, cid, offset, count)
    return {"cid": cid, "offset": offset, "count": len(entries), "entries": entries}


@router.get("/audit/records")
async def read_records(docs: FoundDep) -> dict[str, Any]:
    """Search the audit log (operator, or a hospital admin for its own hospital)."""
    entries = [handlers.search_entry(d) for d in docs]
    return {"count": len(entries), "entries": entries}


@router.get("/fhir/AuditEvent")
async def read_audit_events(docs: FoundDep) -> JSONResponse:
    """The same search as FHIR R4 AuditEvents (IHE BALP shape) in a searchset Bundle."""
    return JSONResponse(fhir.bundle(docs), media_type=FHIR_JSON)


@router.get("/audit/verify", dependencies=[OperatorDep])
async def read_verification(log_: LogDep) -> dict[str, Any]:
    """Recompute every chain against its tip; report the first breach of each."""
    breaches = await handlers.verify(log_)
    return {"ok": not breaches, "breaches": [asdict(b) for b in breaches]}
