"""The audit HTTP API: the patient's access log, auditors' search and FHIR export, verify.

Thin: each route checks who is calling and hands over to a use case. Errors are the
``shared.errors`` hierarchy (``errors.py``), mapped once to a status and OperationOutcome.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from services.audit import handlers
from services.audit.errors import NoHeadKey, NotAnAuditor, OtherHospital
from services.audit.handlers import Deps, Search
from services.audit.heads import public_jwk
from shared.errors import Unauthorized
from shared.fhir import FHIR_JSON
from shared.hospital_auth import is_admin_key
from shared.http import AuditorDep, PatientDep, bearer, same_patient
from shared.operators import operator_of

router = APIRouter(tags=["audit"])

Offset = Annotated[int, Query(ge=0, le=100_000)]
Count = Annotated[int, Query(ge=1, le=200)]
Code = Annotated[str | None, Query(pattern=r"^\d{5}$")]
Licence = Annotated[str | None, Query(pattern=r"^\d{3,8}$")]
Cid = Annotated[str | None, Query(pattern=r"^\d{13}$")]
Kind = Literal["access", "consent", "hospital", "security", "deadletter"]


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


DepsDep = Annotated[Deps, Depends(get_deps)]


async def auditor_scope(request: Request, hospital: Code = None) -> str | None:
    """A named operator or auditor (``shared/operators.py``): everything (None). A
    hospital's admin key: that hospital only."""
    token = bearer(request)
    if hospital is not None and await is_admin_key(request, hospital, token):
        return hospital
    try:
        await operator_of(request)
    except Unauthorized as exc:
        raise (NotAnAuditor() if hospital is None else OtherHospital()) from exc
    return None


ScopeDep = Annotated[str | None, Depends(auditor_scope)]


def search(
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
) -> Search:
    """The search the query parameters ask for, within the caller's scope."""
    return Search(physician, patient, scope or hospital, decision, kind, since, until,
                  offset, count)  # fmt: skip


SearchDep = Annotated[Search, Depends(search)]


@router.get("/patients/{cid}/accesses")
async def read_accesses(
    cid: str, deps: DepsDep, me: PatientDep, offset: Offset = 0, count: Count = 50
) -> dict[str, Any]:
    """Who looked at my record (allowed and denied): newest first, paged."""
    same_patient(cid, me)
    entries = await handlers.read_accesses(deps, cid, offset, count)
    return {"cid": cid, "offset": offset, "count": len(entries), "entries": entries}


@router.get("/patients/{cid}/accesses/proof")
async def read_access_proof(cid: str, deps: DepsDep, me: PatientDep) -> dict[str, Any]:
    """The patient's access log with RFC 9162 inclusion proofs to signed chain heads,
    checkable offline (``healthlink audit check-proof``). Entries after their chain's
    latest head are listed under ``pending``."""
    same_patient(cid, me)
    if deps.key is None:
        raise NoHeadKey()
    return await handlers.access_proof(deps, cid)


@router.get("/audit/public-key")
async def read_public_key(deps: DepsDep) -> dict[str, Any]:
    """The Ed25519 public JWK that verifies the signed chain heads."""
    if deps.key is None:
        raise NoHeadKey()
    return public_jwk(deps.key)


@router.get("/audit/records")
async def read_records(deps: DepsDep, query: SearchDep) -> dict[str, Any]:
    """Search the audit log (operators and auditors, or a hospital admin for its own
    hospital)."""
    entries = await handlers.search_records(deps, query)
    return {"count": len(entries), "entries": entries}


@router.get("/fhir/AuditEvent")
async def read_audit_events(deps: DepsDep, query: SearchDep) -> JSONResponse:
    """The same search as FHIR R4 AuditEvents (IHE BALP shape) in a searchset Bundle."""
    bundle = await handlers.export_audit_events(deps, query)
    return JSONResponse(bundle, media_type=FHIR_JSON)


@router.get("/audit/verify", dependencies=[AuditorDep])
async def read_verification(deps: DepsDep) -> dict[str, Any]:
    """Recompute every chain against its tip; report the first breach of each."""
    found = await handlers.verify_log(deps)
    return {
        "ok": found.ok,
        "records": found.checked,
        "heads": found.heads,
        "unsigned": found.unsigned,
        "breaches": [asdict(b) for b in found.breaches],
    }
