"""Composition root of the portal: the physicians' web viewer, the patient portal, the
hospital console and the operator view (docs/portal.md).

No broker and no database: the portal is a backend-for-frontend in front of the query
service's API (physicians), the consent, audit and notify services' patient APIs
(patients), query's roster API and ingest's set-aside uploads (hospital staff) and
every service's operator API (operators, with their own token); sessions live in the
process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from services.portal.api import router, signin
from services.portal.domain import refusal_code
from services.portal.errors import Refused
from services.portal.handlers import Deps
from services.portal.hospital_api import pages as hospital_pages
from services.portal.hospital_api import router as hospital_router
from services.portal.hospital_backends import HttpHospitalApi
from services.portal.hospitals import HospitalDeps
from services.portal.operator_api import pages as operator_pages
from services.portal.operator_api import router as operator_router
from services.portal.operator_backends import SERVICES, HttpOperatorApi
from services.portal.operators import OperatorDeps
from services.portal.pages import page_response
from services.portal.patient_api import pages as patient_pages
from services.portal.patient_api import router as patient_router
from services.portal.patient_backends import HttpPatientApi
from services.portal.patient_smart_api import router as patient_smart_router
from services.portal.patient_smart_api import signin as patient_signin
from services.portal.patients import PatientDeps
from services.portal.repository import HttpQuery, MemorySessions
from services.portal.settings import PortalSettings
from services.portal.smart import HttpSmartApp
from shared.errors import HealthLinkError
from shared.http import health_routes, install_correlation, install_error_handlers
from shared.limits import BodyLimit
from shared.logging import configure_logging
from shared.metrics import Lags, Metrics, install_http_metrics, metrics_route
from shared.operators import verifier_for

SERVICE = "portal"
SETTINGS = PortalSettings
WEB = Path(__file__).parent / "web"
# No inline script or style, nothing from elsewhere, no framing, no plugins.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


def install_portal_errors(app: FastAPI) -> None:
    """The page's API answers ``{"error": code, "detail"}``; the page translates the code
    (a refusal also carries ``reason``, the query service's reason as a code)."""

    @app.exception_handler(HealthLinkError)
    async def _domain(_: Request, exc: HealthLinkError) -> JSONResponse:
        body: dict[str, Any] = {"error": exc.code, "detail": exc.detail}
        if isinstance(exc, Refused):
            body["reason"] = refusal_code(exc.detail)
        return JSONResponse(body, status_code=exc.status)


def install_security_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def _headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if request.url.path.startswith("/api/"):
            response.headers["cache-control"] = "no-store"
        return response


def http_patient_deps(
    settings: PortalSettings, query: HttpQuery | None
) -> tuple[PatientDeps, HttpPatientApi, HttpSmartApp]:
    """The patient portal on the consent, audit and notify services' HTTP APIs, signed
    in at the auth service, reading the patient's record through query."""
    api = HttpPatientApi(
        settings.service_url("consent"),
        settings.service_url("audit"),
        settings.service_url("notify"),
        settings.portal_query_timeout_s,
    )
    deps = PatientDeps(
        sessions=MemorySessions(),
        api=api,
        session_ttl_s=settings.portal_session_ttl_s,
        smart=(smart := http_smart_app(settings, for_patients=True)),
        query=query,
    )
    return deps, api, smart


def http_hospital_deps(settings: PortalSettings) -> tuple[HospitalDeps, HttpHospitalApi]:
    """The hospital console on the query, consent and ingest services' HTTP APIs."""
    urls = {name: settings.service_url(name) for name in ("query", "consent", "ingest")}
    api = HttpHospitalApi(urls, settings.portal_query_timeout_s)
    ttl = settings.portal_session_ttl_s
    return HospitalDeps(sessions=MemorySessions(), api=api, session_ttl_s=ttl), api


def http_operator_deps(settings: PortalSettings) -> tuple[OperatorDeps, HttpOperatorApi]:
    """The operator view on every service's HTTP API, with the operator's own token."""
    urls = {name: settings.service_url(name) for name in SERVICES}
    api = HttpOperatorApi(urls, settings.portal_query_timeout_s, verifier_for(settings))
    ttl = settings.portal_session_ttl_s
    return OperatorDeps(sessions=MemorySessions(), api=api, session_ttl_s=ttl), api


def http_smart_app(settings: PortalSettings, for_patients: bool = False) -> HttpSmartApp:
    """The portal's SMART client of the auth service (its key: given, or the data
    dir's), for the viewer or (``for_patients``) the patient portal."""
    key_file = Path(settings.data_dir) / "auth" / f"{settings.portal_client}.jwk"
    return HttpSmartApp(
        issuer=settings.issuer,
        audience=settings.token_audience,
        client_id=settings.portal_client,
        redirect_uri=settings.patient_redirect_uri() if for_patients else settings.redirect_uri(),
        client_key=settings.portal_client_key,
        key_file=key_file,
        verifier=verifier_for(settings),
        timeout_s=settings.portal_query_timeout_s,
        for_patients=for_patients,
    )


def create_app(settings: PortalSettings, *, deps: Deps | None = None) -> FastAPI:
    configure_logging(SERVICE, settings.log_level)
    query: HttpQuery | None = None
    smart: HttpSmartApp | None = None
    patient_api: HttpPatientApi | None = None
    if deps is None:
        query = HttpQuery(settings.query_url(), settings.portal_query_timeout_s)
        smart = http_smart_app(settings)
        deps = Deps(
            sessions=MemorySessions(),
            query=query,
            smart=smart,
            session_ttl_s=settings.portal_session_ttl_s,
        )
    patient_deps = deps.patients
    patient_smart: HttpSmartApp | None = None
    if patient_deps is None:
        patient_deps, patient_api, patient_smart = http_patient_deps(settings, query)
    hospital_deps = deps.hospitals
    hospital_api: HttpHospitalApi | None = None
    if hospital_deps is None:
        hospital_deps, hospital_api = http_hospital_deps(settings)
    operator_deps = deps.operators
    operator_api: HttpOperatorApi | None = None
    if operator_deps is None:
        operator_deps, operator_api = http_operator_deps(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if query is not None:
                await query.aclose()
            for backends in (smart, patient_api, patient_smart, hospital_api, operator_api):
                if backends is not None:
                    await backends.aclose()

    app = FastAPI(
        title="Health Link portal",
        description="The physicians' web viewer (sign-in, patient look-up, the record) and "
        "the patient portal (register, sign in, consent, who viewed my record, inbox) and "
        "the hospital console (roster, set-aside uploads) and the operator view (hospitals, "
        "dead letters, the audit log's verification, the services' readiness).",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.deps = deps
    app.state.patient_deps = patient_deps
    app.state.hospital_deps = hospital_deps
    app.state.operator_deps = operator_deps
    app.state.settings = settings
    app.state.web = WEB
    install_error_handlers(app)
    install_portal_errors(app)
    install_correlation(app)
    install_security_headers(app)
    # Like every service: bodies over the limit refused before anything reads them
    # (outermost, so before the CSRF and origin checks), and /metrics (HTTP only: the
    # portal consumes no topic).
    metrics = Metrics("portal", settings.topic_prefix)
    install_http_metrics(app, metrics)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    async def no_lags() -> Lags:
        return {}

    metrics_route(app, metrics, no_lags)

    async def readiness() -> dict[str, Any]:
        return {"query": await query.ready() if query is not None else True}

    health_routes(app, readiness)
    app.include_router(router)
    app.include_router(signin)
    app.include_router(patient_router)
    app.include_router(patient_smart_router)
    app.include_router(patient_signin)  # before the page's /patient/{screen}
    app.include_router(patient_pages)
    app.include_router(hospital_router)
    app.include_router(hospital_pages)
    app.include_router(operator_router)
    app.include_router(operator_pages)

    @app.get("/", include_in_schema=False)
    async def index(request: Request) -> HTMLResponse:
        return page_response(request, "index")

    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
    app.mount("/i18n", StaticFiles(directory=WEB / "i18n"), name="i18n")
    return app
