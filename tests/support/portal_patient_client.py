"""The patient portal through the portal's composition root on the fakes of
``portal_fakes``: the clock, the browser (``PortalClient``) and how the two patient
portal test modules build the app (their fixtures: tests/unit/conftest.py)."""

from __future__ import annotations

import httpx

from services.portal.app import create_app
from services.portal.handlers import Deps
from services.portal.patient_views import PatientSession
from services.portal.patients import PatientDeps
from services.portal.repository import MemorySessions
from services.portal.settings import PortalSettings
from tests.support.portal_fakes import FakePatientApi, FakePatientSmart, FakeQuery, FakeSmartApp

BASE = "http://portal.test"


class Clock:
    def __init__(self) -> None:
        self.now = 1_780_000_000.0  # 2026-05-28 UTC

    def __call__(self) -> float:
        return self.now


class PortalClient(httpx.AsyncClient):
    """The browser, and the (fake) auth service the patient signs in at."""

    smart: FakePatientSmart


def patient_deps(
    backends: FakePatientApi,
    smart: FakePatientSmart,
    clock: Clock,
    sessions: MemorySessions[PatientSession] | None = None,
) -> Deps:
    """The portal's dependencies with the patient portal on ``backends`` and ``smart``."""
    patients = PatientDeps(
        sessions=sessions if sessions is not None else MemorySessions(clock),
        pending=MemorySessions(clock),
        api=backends,
        session_ttl_s=600,
        clock=clock,
        smart=smart,
        query=smart.query,
    )
    q = FakeQuery()
    return Deps(
        sessions=MemorySessions(clock),
        query=q,
        smart=FakeSmartApp(q),
        clock=clock,
        patients=patients,
    )


def app_client(deps: Deps) -> PortalClient:
    app = create_app(PortalSettings(environment="test"), deps=deps)
    return PortalClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
