"""The consent HTTP API: patients (wallet app), consents, FHIR Consent, hospitals (operators).

Thin: each route checks who is calling and hands over to a use case. Errors are
the ``shared.errors`` hierarchy, mapped once to a status and OperationOutcome.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, status
from pydantic import AwareDatetime, BaseModel, Field

from services.consent import consents, fhir, handlers, registry
from services.consent.handlers import Deps
from shared.errors import Forbidden, NotFound
from shared.http import PatientDep, same_patient
from shared.operators import ChangerDep, recorder
from shared.settings import Settings
from shared.wallet import WalletDep

Code = Annotated[str, Path(max_length=5, description="5-digit MOPH hospital code")]


class PatientCreate(BaseModel):
    cid: str = Field(max_length=13, description="13-digit Thai national ID")
    birth_date: date


class VerifyRequest(BaseModel):
    scan: str = Field(
        min_length=1, max_length=100_000, description="opaque face-scan result from the wallet"
    )


class HospitalCreate(BaseModel):
    code: str = Field(max_length=5, description="5-digit MOPH hospital code")
    name: str = Field(min_length=1, max_length=200)
    role: Literal["consumer", "provider"] = "consumer"
    consent_mode: Literal["standing", "per-visit"] = "standing"


class HospitalUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Literal["consumer", "provider"] | None = None
    consent_mode: Literal["standing", "per-visit"] | None = None
    active: bool | None = Field(default=None, description="false suspends, true reinstates")


class HospitalList(BaseModel):
    hospitals: list[Annotated[str, Field(max_length=5)]] = Field(min_length=1, max_length=500)


class VisitCreate(BaseModel):
    requesting_hospital: str = Field(max_length=5, description="the hospital of the visit")
    sources: list[Annotated[str, Field(max_length=5)]] = Field(min_length=1, max_length=500)
    until: AwareDatetime = Field(description="end of the consent, ISO-8601 with offset")


class SensitiveChoice(BaseModel):
    allowed: bool


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DepsDep = Annotated[Deps, Depends(get_deps)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

patients = APIRouter(prefix="/patients", tags=["patients"])
consent = APIRouter(prefix="/patients/{cid}/consent", tags=["consents"])
fhir_router = APIRouter(prefix="/fhir", tags=["fhir"])
hospitals = APIRouter(prefix="/hospitals", tags=["hospitals"])


@patients.post("", status_code=status.HTTP_201_CREATED)
async def create_patient(body: PatientCreate, deps: DepsDep) -> dict[str, Any]:
    """Register a patient by CID (18 or older, Bangkok time; once per CID)."""
    return await handlers.register_patient(deps, body.cid, body.birth_date)


@patients.post("/{cid}/verify")
async def create_verification(
    cid: str, body: VerifyRequest, deps: DepsDep, session: WalletDep
) -> dict[str, Any]:
    """Verify a patient's identity from the auth service's wallet flow (at most 5
    failures per Bangkok day): its wallet token (401 without, 403 for another token)
    and the device session (``hl-wallet-session``). Answers ``{"cid", "verified_at"}``;
    patients get their tokens from the auth service (docs/auth.md)."""
    return await handlers.verify_identity(deps, cid, body.scan)


@consent.get("")
async def read_consent(cid: str, deps: DepsDep, me: PatientDep) -> dict[str, Any]:
    """The patient's current consent: standing, per-visit and sensitive-data choice."""
    same_patient(cid, me)
    return await consents.read_consent(deps, cid)


@consent.get("/history")
async def read_consent_history(cid: str, deps: DepsDep, me: PatientDep) -> dict[str, Any]:
    """Every version of the patient's consent, oldest first."""
    same_patient(cid, me)
    return {"cid": cid, "history": await consents.read_history(deps, cid)}


@consent.delete("")
async def delete_consent(cid: str, deps: DepsDep, me: PatientDep) -> dict[str, Any]:
    """Revoke everything: the standing consent and every per-visit consent."""
    same_patient(cid, me)
    return await consents.revoke_all(deps, cid)


@consent.post("/hospitals")
async def create_hospital_consent(
    cid: str, body: HospitalList, deps: DepsDep, me: PatientDep
) -> dict[str, Any]:
    """Allow these hospitals to send and share the patient's records."""
    same_patient(cid, me)
    return await consents.grant_hospitals(deps, cid, set(body.hospitals))


@consent.delete("/hospitals/{code}")
async def delete_hospital_consent(
    cid: str, code: Code, deps: DepsDep, me: PatientDep
) -> dict[str, Any]:
    """Revoke one hospital from the standing consent."""
    same_patient(cid, me)
    return await consents.revoke_hospitals(deps, cid, {code})


@consent.put("/all")
async def create_all_consent(cid: str, deps: DepsDep, me: PatientDep) -> dict[str, Any]:
    """Allow all hospitals, including providers that join later."""
    same_patient(cid, me)
    return await consents.grant_all(deps, cid)


@consent.delete("/all")
async def delete_all_consent(cid: str, deps: DepsDep, me: PatientDep) -> dict[str, Any]:
    """Stop "all hospitals"; the listed hospitals stay."""
    same_patient(cid, me)
    return await consents.revoke_all_hospitals(deps, cid)


@consent.put("/sensitive")
async def update_sensitive(
    cid: str, body: SensitiveChoice, deps: DepsDep, me: PatientDep
) -> dict[str, Any]:
    """Allow or hide sensitive records."""
    same_patient(cid, me)
    return await consents.set_sensitive(deps, cid, body.allowed)


@consent.post("/visits", status_code=status.HTTP_201_CREATED)
async def create_visit_consent(
    cid: str, body: VisitCreate, deps: DepsDep, me: PatientDep
) -> dict[str, Any]:
    """A per-visit consent: one requesting hospital, some sources, an end time."""
    same_patient(cid, me)
    sources = set(body.sources)
    return await consents.grant_visit(deps, cid, body.requesting_hospital, sources, body.until)


@consent.delete("/visits/{visit_id}")
async def delete_visit_consent(
    cid: str, visit_id: Annotated[str, Path(max_length=64)], deps: DepsDep, me: PatientDep
) -> dict[str, Any]:
    """Revoke one per-visit consent."""
    same_patient(cid, me)
    return await consents.revoke_visit(deps, cid, visit_id)


@fhir_router.get("/Consent")
async def read_fhir_consents(
    deps: DepsDep, me: PatientDep, patient: Annotated[str, Query(max_length=13)]
) -> dict[str, Any]:
    """The patient's consents as a FHIR R4 searchset Bundle of Consent resources."""
    same_patient(patient, me)
    return fhir.search_bundle(await consents.read_fhir_consents(deps, patient))


@fhir_router.get("/Consent/{consent_id}")
async def read_fhir_consent(
    consent_id: Annotated[str, Path(max_length=64)], deps: DepsDep, me: PatientDep
) -> dict[str, Any]:
    """One consent as a FHIR R4 Consent resource (``<cid>-standing``, ``<cid>-visit-<id>``)."""
    if consent_id[:13] != me:
        raise Forbidden("a patient may read only their own consents")
    for resource in await consents.read_fhir_consents(deps, me):
        if resource["id"] == consent_id:
            return resource
    raise NotFound(f"no Consent/{consent_id}")


@hospitals.post("", status_code=status.HTTP_201_CREATED)
async def create_hospital(
    request: Request, body: HospitalCreate, deps: DepsDep, me: ChangerDep
) -> dict[str, Any]:
    """Add a participating hospital (operators); returns its admin key this once
    (``admin_key``; the same request again returns none: rotate it with
    ``POST /hospitals/{code}/admin-key``). Upload signing keys: ``POST
    /hospitals/{code}/signing-keys``."""
    detail: dict[str, str] = {"role": body.role, "consent_mode": body.consent_mode}
    record = recorder(request, me, "hospital.added", body.code, detail)
    return await registry.register_hospital(
        deps, body.code, body.name, body.role, body.consent_mode, record=record
    )


@hospitals.get("")
async def read_hospitals(deps: DepsDep) -> dict[str, Any]:
    """The public list of participating hospitals, with role and consent mode."""
    return {"hospitals": await registry.list_hospitals(deps)}


@hospitals.get("/{code}")
async def read_hospital(code: Code, deps: DepsDep) -> dict[str, Any]:
    """One participating hospital."""
    return await registry.read_hospital(deps, code)


@hospitals.patch("/{code}")
async def update_hospital(
    request: Request, code: Code, body: HospitalUpdate, deps: DepsDep, me: ChangerDep
) -> dict[str, Any]:
    """Rename, change the consent mode, make a consumer a provider, suspend or reinstate
    (operators)."""
    changes = body.model_dump(exclude_none=True)
    detail = {k: str(v).lower() for k, v in changes.items() if k != "name"}
    if "name" in changes:
        detail["name"] = "changed"
    record = recorder(request, me, hospital_action(body), code, detail)
    return await registry.update_hospital(
        deps, code, body.name, body.role, body.consent_mode, body.active, record=record
    )


def hospital_action(body: HospitalUpdate) -> str:
    """What an operator's change of a hospital is called in the security log."""
    if body.active is False:
        return "hospital.suspended"
    if body.active is True:
        return "hospital.reinstated"
    return "hospital.promoted" if body.role == "provider" else "hospital.changed"
