"""The query HTTP API: sign-in, rosters (hospital staff), FHIR reads (physicians)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.query import handlers
from services.query.handlers import Deps
from services.query.physicians import hash_pin
from services.query.records import searchset
from shared import tokens
from shared.errors import Unauthorized
from shared.fhir import FHIR_JSON
from shared.http import OperatorDep, bearer


class LicenceLoad(BaseModel):
    licence: str = Field(pattern=r"^\d{3,8}$", description="Medical Council licence number")
    name: str = Field(min_length=1, max_length=200)
    pin: str = Field(min_length=4, max_length=64)


class RosterEntry(BaseModel):
    licence: str = Field(pattern=r"^\d{3,8}$")


class SignIn(BaseModel):
    licence: str = Field(pattern=r"^\d{3,8}$")
    pin: str = Field(min_length=1, max_length=64)
    hospital: str = Field(pattern=r"^\d{5}$")


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


DepsDep = Annotated[Deps, Depends(get_deps)]


def require_hospital_admin(code: str, request: Request) -> None:
    expected = tokens.derive(request.app.state.settings.token_secret, "admin", code)
    if not hmac.compare_digest(bearer(request), expected):
        raise Unauthorized("this hospital's admin key is required")


def optional_bearer(request: Request) -> str | None:
    try:
        return bearer(request)
    except Unauthorized:
        return None


admin = APIRouter(tags=["physicians"])
fhir = APIRouter(prefix="/fhir", tags=["fhir"])


@admin.post("/registry/licences", status_code=status.HTTP_201_CREATED, dependencies=[OperatorDep])
async def create_licence(body: LicenceLoad, deps: DepsDep) -> dict[str, str]:
    """Load a licence into the local Medical Council mirror (operators)."""
    await deps.registry.put(body.licence, body.name, hash_pin(body.pin))
    return {"licence": body.licence}


@admin.post(
    "/hospitals/{code}/physicians",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_hospital_admin)],
)
async def create_roster_entry(code: str, body: RosterEntry, deps: DepsDep) -> dict[str, Any]:
    """Add a physician to the hospital's roster (hospital staff)."""
    await deps.rosters.add(code, body.licence, deps.clock())
    return {"hospital": code, "physicians": await deps.rosters.list(code)}


@admin.delete(
    "/hospitals/{code}/physicians/{licence}", dependencies=[Depends(require_hospital_admin)]
)
async def delete_roster_entry(code: str, licence: str, deps: DepsDep) -> dict[str, Any]:
    """Remove a physician; takes effect on their next request."""
    await deps.rosters.remove(code, licence)
    return {"hospital": code, "physicians": await deps.rosters.list(code)}


@admin.post("/auth/token")
async def create_token(body: SignIn, deps: DepsDep) -> dict[str, Any]:
    """Sign in with licence number, PIN and the hospital to act for."""
    return await handlers.sign_in(deps, body.licence, body.pin, body.hospital)


@fhir.get("/Patient/{cid}/$everything", response_model=None)
async def read_everything(cid: str, request: Request, deps: DepsDep) -> JSONResponse:
    """Every record the physician may see for the patient, newest first."""
    resources = await handlers.everything(deps, optional_bearer(request), cid)
    return JSONResponse(searchset(resources, str(request.url)), media_type=FHIR_JSON)
