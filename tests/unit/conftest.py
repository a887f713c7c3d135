"""The patient portal's fixtures, shared by test_portal_patient.py and
test_portal_patient_signin.py (a module with a fixture of the same name uses its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.portal_fakes import FakePatientApi, FakePatientSmart, FakeQuery
from tests.support.portal_patient_client import Clock, PortalClient, app_client, patient_deps


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backends() -> FakePatientApi:
    return FakePatientApi()


@pytest.fixture
def smart(backends: FakePatientApi) -> FakePatientSmart:
    return FakePatientSmart(FakeQuery(), patients=backends)


@pytest.fixture
async def client(
    backends: FakePatientApi, smart: FakePatientSmart, clock: Clock
) -> AsyncIterator[PortalClient]:
    async with app_client(patient_deps(backends, smart, clock)) as c:
        c.smart = smart
        yield c
