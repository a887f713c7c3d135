"""The query HTTP API: sign-in, rosters (hospital staff), FHIR reads and summary (physicians).

Patient reads validate their own parameters inside the audited request (not in
FastAPI's validation), so a 400 on a bad parameter is audited like any other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from services.query import breakglass, export, physicians, reads
from services.query.capability import capability_statement
from services.query.errors import NotAcceptable
from services.query.handlers import Deps
from services.query.reads import Link
from services.query.search import is_json_format
from shared import smart
from shared.errors import InvalidInput, NotFound, Unauthorized
from shared.fhir import FHIR_JSON
from shared.hospital_auth import require_admin_key
from shared.http import bearer
from shared.operators import ChangerDep, acted

LICENCE = r"^\d{3,8}$"
HOSPITAL = r"^\d{5}$"


class LicenceLoad(BaseModel):
    licence: str = Field(pattern=LICENCE, description="Medical Council licence number")
    name: str = Field(min_length=1, max_length=200)
    pin: str = Field(min_length=4, max_length=200, description="PIN, or its argon2id hash")
    active: bool = True


class RosterEntry(BaseModel):
    licence: str = Field(pattern=LICENCE)


class SignIn(BaseModel):
    licence: str = Field(pattern=LICENCE)
    pin: str = Field(min_length=1, max_length=64)
    hospital: str = Field(pattern=HOSPITAL, description="the hospital to act for")


class BreakGlassDeclare(BaseModel):
    reason: str = Field(min_length=10, max_length=1000, description="why this is an emergency")


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


DepsDep = Annotated[Deps, Depends(get_deps)]
HospitalCode = Annotated[str, Path(pattern=HOSPITAL)]
Licence = Annotated[str, Path(pattern=LICENCE)]


async def require_hospital_admin(code: HospitalCode, request: Request) -> None:
    await require_admin_key(request, code)


def optional_bearer(request: Request) -> str | None:
    try:
        return bearer(request)
    except Unauthorized:
        return None


def pairs_of(request: Request) -> list[tuple[str, str]]:
    return list(request.query_params.multi_items())


def link_of(request: Request) -> Link:
    """Absolute page links on the public URL (``HEALTHLINK_QUERY_PUBLIC_URL``)."""
    public: str = request.app.state.settings.public_url

    def link(offset: int) -> str:
        url = request.url.include_query_params(_offset=offset)
        return f"{public}{url.path}?{url.query}"

    return link


def strict_of(request: Request) -> bool:
    """``Prefer: handling=strict``: unknown search parameters are refused (400)."""
    prefer = request.headers.get("prefer", "").replace(" ", "").lower()
    return "handling=strict" in prefer.split(",") or "handling=strict" in prefer.split(";")


def require_json(request: Request) -> None:
    """Only FHIR JSON is served: ``_format`` or ``Accept`` asking for XML alone -> 406."""
    fmt = request.query_params.get("_format")
    if fmt is not None and not is_json_format(fmt):
        raise NotAcceptable(f"_format {fmt[:40]!r}: only JSON (application/fhir+json) is served")
    accept = request.headers.get("accept", "")
    if accept and not _accepts_json(accept):
        raise NotAcceptable("only JSON (application/fhir+json) is served")


def _accepts_json(accept: str) -> bool:
    for item in accept.split(","):
        kind, *params = item.strip().split(";")
        kind = kind.strip().lower()
        if any(p.strip().replace(" ", "") in ("q=0", "q=0.0") for p in params):
            continue
        if kind in ("*/*", "application/*", "") or "json" in kind:
            return True
    return False


def fhir_response(body: bytes) -> Response:
    return Response(content=body, media_type=FHIR_JSON)


admin = APIRouter(tags=["physicians"])
fhir = APIRouter(prefix="/fhir", tags=["fhir"], dependencies=[Depends(require_json)])
discovery = APIRouter(tags=["discovery"])
patients = APIRouter(prefix="/patients", tags=["patients"])
# FHIR Bulk Data: NDJSON files, so not under fhir's JSON-only Accept check
bulk = APIRouter(prefix="/fhir", tags=["fhir bulk data"])
HospitalAdmin = [Depends(require_hospital_admin)]


@admin.post("/registry/licences", status_code=status.HTTP_201_CREATED)
async def create_licence(
    request: Request, body: LicenceLoad, deps: DepsDep, me: ChangerDep
) -> dict[str, str]:
    """Load a licence into the local Medical Council mirror (operators)."""
    await physicians.register_licence(deps, body.licence, body.name, body.pin, body.active)
    detail = {"active": str(body.active).lower(), "pin": "set"}
    await acted(request, me, "licence.loaded", body.licence, detail)
    return {"licence": body.licence}


@admin.get("/hospitals/{code}/physicians", dependencies=HospitalAdmin)
async def read_roster(code: HospitalCode, deps: DepsDep) -> dict[str, Any]:
    """The hospital's roster (hospital staff)."""
    return {"hospital": code, "physicians": await physicians.read_roster(deps, code)}


@admin.post(
    "/hospitals/{code}/physicians",
    status_code=status.HTTP_201_CREATED,
    dependencies=HospitalAdmin,
)
async def create_roster_entry(
    code: HospitalCode, body: RosterEntry, deps: DepsDep
) -> dict[str, Any]:
    """Add a registered physician to the hospital's roster (hospital staff)."""
    roster = await physicians.add_to_roster(deps, code, body.licence)
    return {"hospital": code, "physicians": roster}


@admin.delete("/hospitals/{code}/physicians/{licence}", dependencies=HospitalAdmin)
async def delete_roster_entry(
    code: HospitalCode, licence: Licence, deps: DepsDep
) -> dict[str, Any]:
    """Remove a physician; takes effect on their next request."""
    roster = await physicians.remove_from_roster(deps, code, licence)
    return {"hospital": code, "physicians": roster}


@admin.post("/auth/token")
async def create_token(body: SignIn, deps: DepsDep) -> dict[str, Any]:
    """Sign in with licence number, PIN and the hospital to act for."""
    return await physicians.sign_in(deps, body.licence, body.pin, body.hospital)


@patients.get("/{cid}/summary")
async def read_summary(cid: str, request: Request, deps: DepsDep) -> JSONResponse:
    """Per data category and per source hospital, latest first, with counts."""
    found = await reads.patient_summary(deps, optional_bearer(request), cid)
    return JSONResponse(found)


@patients.post("/{cid}/break-glass", status_code=status.HTTP_201_CREATED)
async def create_break_glass(cid: str, request: Request, deps: DepsDep) -> dict[str, Any]:
    """Declare an emergency: sensitive and per-visit-only records shown for a limited time."""
    raw = await request.body()
    token = optional_bearer(request)

    def reason() -> str:
        try:
            return BreakGlassDeclare.model_validate_json(raw).reason
        except ValidationError as exc:
            raise InvalidInput('body must be {"reason": 10 to 1000 characters}') from exc

    return await breakglass.declare_break_glass(deps, token, cid, reason)


@fhir.get("/metadata", response_model=None)
async def read_metadata(request: Request) -> JSONResponse:
    """The CapabilityStatement: what this server supports."""
    settings = request.app.state.settings
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    statement = capability_statement(now, settings.public_url, settings.issuer)
    return JSONResponse(statement, media_type=FHIR_JSON)


@discovery.get("/.well-known/smart-configuration")
@fhir.get("/.well-known/smart-configuration")
async def read_smart_configuration(request: Request) -> JSONResponse:
    """SMART App Launch discovery: the auth service's endpoints (at the FHIR base too)."""
    return JSONResponse(smart.smart_configuration(request.app.state.settings.issuer))


@fhir.get("/Patient/{cid}/$everything", response_model=None)
async def read_everything(cid: str, request: Request, deps: DepsDep) -> Response:
    """Every record the physician may see for the patient, newest first, paged."""
    token = optional_bearer(request)
    body = await reads.everything(
        deps, token, cid, pairs_of(request), link_of(request), strict_of(request)
    )
    return fhir_response(body)


@fhir.get("/Patient/{cid}/$summary", response_model=None)
async def read_patient_summary(cid: str, request: Request, deps: DepsDep) -> Response:
    """The International Patient Summary (a document Bundle) of what the reader may see."""
    return fhir_response(await reads.summary_document(deps, optional_bearer(request), cid))


@fhir.get("/{rtype}", response_model=None)
async def read_search(rtype: str, request: Request, deps: DepsDep) -> Response:
    """Search one resource type for one patient (``patient`` or ``subject``)."""
    token = optional_bearer(request)
    body = await reads.search(
        deps, token, rtype, pairs_of(request), link_of(request), strict_of(request)
    )
    return fhir_response(body)


@fhir.get("/{rtype}/{rid}", response_model=None)
async def read_resource(rtype: str, rid: str, request: Request, deps: DepsDep) -> Response:
    """Read one resource by id, under the same access decision and audit as a search."""
    token = optional_bearer(request)
    body = await reads.read(deps, token, rtype, rid, pairs_of(request), strict_of(request))
    return fhir_response(body)


@bulk.get("/Patient/{cid}/$export", response_model=None)
async def create_export(cid: str, request: Request, deps: DepsDep) -> Response:
    """Bulk Data kick-off (the patient's own copy): 202 and the job's status URL."""
    asked = f"{deps.settings.fhir_base}/Patient/{cid}/$export"
    query = request.url.query
    url = await export.kick_off(
        deps,
        optional_bearer(request),
        cid,
        pairs_of(request),
        request.headers.get("prefer", ""),
        f"{asked}?{query}" if query else asked,
    )
    return Response(status_code=status.HTTP_202_ACCEPTED, headers={"Content-Location": url})


@bulk.get("/$export-status/{job}", response_model=None)
async def read_export_status(job: str, request: Request, deps: DepsDep) -> JSONResponse:
    """The manifest of a finished job (jobs finish at kick-off)."""
    return JSONResponse(await export.manifest(deps, optional_bearer(request), job))


@bulk.delete("/$export-status/{job}", status_code=status.HTTP_202_ACCEPTED)
async def delete_export(job: str, request: Request, deps: DepsDep) -> None:
    await export.end(deps, optional_bearer(request), job)


@bulk.get("/$export-file/{job}/{name}", response_model=None)
async def read_export_file(job: str, name: str, request: Request, deps: DepsDep) -> Response:
    """One type's NDJSON file of the job."""
    rtype = name.removesuffix(".ndjson")
    if rtype == name:
        raise NotFound("export files are named <Type>.ndjson")
    body = await export.file(deps, optional_bearer(request), job, rtype)
    return Response(body, media_type=export.NDJSON)
