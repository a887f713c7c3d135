"""The consent HTTP API: patients (wallet app), hospitals (operators), consents."""

from __future__ import annotations

import hmac
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from services.consent import handlers
from services.consent.handlers import Deps
from shared import tokens
from shared.errors import Unauthorized
from shared.http import OperatorDep, PatientDep, same_patient
from shared.settings import Settings

DEV_SCAN_OK = "dev-face-scan-ok"


class PatientCreate(BaseModel):
    cid: str = Field(description="13-digit Thai national ID")
    birth_date: date


class VerifyRequest(BaseModel):
    scan: str = Field(min_length=1, description="opaque face-scan result from the wallet app")


class HospitalCreate(BaseModel):
    code: str = Field(description="5-digit MOPH hospital code")
    name: str = Field(min_length=1, max_length=200)
    role: Literal["consumer", "provider"] = "consumer"
    consent_mode: Literal["standing", "per-visit"] = "standing"


class HospitalList(BaseModel):
    hospitals: list[str] = Field(min_length=1, max_length=500)


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
hospitals = APIRouter(prefix="/hospitals", tags=["hospitals"])


@patients.post("", status_code=status.HTTP_201_CREATED)
async def create_patient(body: PatientCreate, deps: DepsDep) -> dict[str, Any]:
    """Register a patient by CID (18 or older, Bangkok time)."""
    return await handlers.register_patient(deps, body.cid, body.birth_date)


@patients.post("/{cid}/verify")
async def create_verification(
    cid: str, body: VerifyRequest, deps: DepsDep, settings: SettingsDep
) -> dict[str, Any]:
    """Verify identity (development verifier) and get a patient token."""
    await handlers.require_patient(deps, cid)
    if not hmac.compare_digest(body.scan, DEV_SCAN_OK):
        raise Unauthorized("identity verification failed")
    token = tokens.issue(settings.token_secret, tokens.PATIENT, cid, settings.token_ttl_s)
    return {"access_token": token, "token_type": "bearer", "expires_in": settings.token_ttl_s}


@patients.get("/{cid}/consent")
async def read_consent(cid: str, deps: DepsDep, me: PatientDep) -> dict[str, Any]:
    """The patient's current standing consent."""
    same_patient(cid, me)
    return await handlers.read_consent(deps, cid)


@patients.post("/{cid}/consent/hospitals")
async def create_hospital_consent(
    cid: str, body: HospitalList, deps: DepsDep, me: PatientDep
) -> dict[str, Any]:
    """Allow these hospitals to share the patient's records."""
    same_patient(cid, me)
    return await handlers.grant_hospitals(deps, cid, set(body.hospitals))


@patients.delete("/{cid}/consent/hospitals/{code}")
async def delete_hospital_consent(
    cid: str, code: str, deps: DepsDep, me: PatientDep
) -> dict[str, Any]:
    """Revoke one hospital."""
    same_patient(cid, me)
    return await handlers.revoke_hospitals(deps, cid, {code})


@patients.put("/{cid}/consent/all")
async def create_all_consent(cid: str, deps: DepsDep, me: PatientDep) -> dict[str, Any]:
    """Allow all hospitals, including those that join later."""
    same_patient(cid, me)
    return await handlers.grant_all(deps, cid)


@patients.delete("/{cid}/consent")
async def delete_consent(cid: str, deps: DepsDep, me: PatientDep) -> dict[str, Any]:
    """Revoke every standing consent."""
    same_patient(cid, me)
    return await handlers.revoke_all(deps, cid)


@patients.put("/{cid}/consent/sensitive")
async def update_sensitive(
    cid: str, body: SensitiveChoice, deps: DepsDep, me: PatientDep
) -> dict[str, Any]:
    """Allow or hide sensitive records."""
    same_patient(cid, me)
    return await handlers.set_sensitive(deps, cid, body.allowed)


@hospitals.post("", status_code=status.HTTP_201_CREATED, dependencies=[OperatorDep])
async def create_hospital(
    body: HospitalCreate, deps: DepsDep, settings: SettingsDep
) -> dict[str, Any]:
    """Add a participating hospital (operators); returns its credentials once."""
    state = await handlers.register_hospital(
        deps, body.code, body.name, body.role, body.consent_mode
    )
    secret = settings.token_secret
    return {
        **state,
        "admin_key": tokens.derive(secret, "admin", body.code),
        "upload_key": tokens.derive(secret, "upload", body.code),
    }


@hospitals.get("")
async def read_hospitals(deps: DepsDep) -> dict[str, Any]:
    """The public list of participating hospitals."""
    docs = await deps.repo.list_states("hospitals")
    return {"hospitals": [doc["state"] for doc in docs]}
