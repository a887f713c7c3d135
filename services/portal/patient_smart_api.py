"""The patient portal's SMART sign-in (``/patient/signin`` to the auth service,
``/patient/callback`` back from it) and "my record" (``/api/patient/record`` and its
export); docs/portal.md, "The patient portal".

Like the viewer's (``api.py``): a failure comes back to the page as
``/patient/?signin-error=<code>``, never a JSON error; the pending sign-in sits behind
the ``hl_patient_signin`` cookie (SameSite=Lax, for the way back), the session behind
``hl_patient`` (``patient_api.py``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.portal import patient_smart
from services.portal.page_sessions import SignInDoors, page_language
from services.portal.patient_api import COOKIE_PATH, PAGE, PATIENT_COOKIE, PatientDepsDep
from shared.fhir import FHIR_JSON

SIGNIN_COOKIE = "hl_patient_signin"
CALLBACK = "/patient/callback"
HOME = "/patient/"
DOORS = SignInDoors("patient", HOME, SIGNIN_COOKIE, CALLBACK, PATIENT_COOKIE, COOKIE_PATH)

signin = APIRouter(tags=["patient portal"])
router = APIRouter(prefix="/api/patient", tags=["patient portal"])


@signin.get("/patient/signin", status_code=303, response_class=RedirectResponse)
async def read_patient_signin(request: Request, deps: PatientDepsDep) -> RedirectResponse:
    """Sign in: to the auth service's ``/authorize`` (SMART, code + PKCE, the patient's
    scopes, in the page's language), where the patient gives the CID, the code sent to
    the phone and the face scan. When the auth service cannot be reached, back to the
    patient portal with the failure's code (``?signin-error=signin-failed``)."""
    return await DOORS.start(request, patient_smart.start_sign_in(deps, page_language(request)))


@signin.get(CALLBACK, status_code=303, response_class=RedirectResponse)
async def read_patient_callback(
    request: Request,
    deps: PatientDepsDep,
    state: Annotated[str, Query(max_length=200)] = "",
    code: Annotated[str, Query(max_length=500)] = "",
    error: Annotated[str, Query(max_length=100)] = "",
) -> RedirectResponse:
    """The auth service's answer: the code traded for the patient's token here (it never
    reaches the browser), then the patient portal; a failure goes there with its code
    (``?signin-error=signin-state`` …)."""
    params = {"state": state, "code": code, "error": error}
    pending = request.cookies.get(SIGNIN_COOKIE)
    finished = patient_smart.finish_sign_in(deps, pending, params)
    return await DOORS.finish(request, finished, deps.session_ttl_s)


@router.get("/record")
async def read_record(request: Request, deps: PatientDepsDep) -> dict[str, Any]:
    """My record: everything the platform holds about the patient, grouped by resource
    type, read from the query service with the patient's own token."""
    return await patient_smart.record(deps, PAGE.sid(request))


@router.get("/record/export", response_class=Response)
async def read_record_export(request: Request, deps: PatientDepsDep) -> Response:
    """My record as one FHIR Bundle (JSON, every page of ``$everything``), to download."""
    bundle = await patient_smart.export(deps, PAGE.sid(request))
    return Response(
        json.dumps(bundle, ensure_ascii=False),
        media_type=FHIR_JSON,
        headers={"content-disposition": 'attachment; filename="health-link-record.json"'},
    )
