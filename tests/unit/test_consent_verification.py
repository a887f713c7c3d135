"""Identity verification: 5 failures a Bangkok day, the 6th refused, reset at midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from services.consent.errors import REFUSED_TH, TooManyAttempts, VerificationFailed
from services.consent.fakes import MemoryConsentRepository
from services.consent.handlers import Deps, register_patient, verify_identity
from services.consent.verification import (
    DEV_SCAN_OK,
    DevVerifier,
    HttpVerifier,
    attempt_day,
    make_verifier,
)
from shared import topics
from shared.broker import RecordingPublisher
from shared.errors import Transient
from tests.support.cids import CID
from tests.support.clock import Clock

pytestmark = pytest.mark.unit
# 16:30 UTC = 23:30 in Bangkok; Bangkok midnight is 17:00 UTC.
LATE_EVENING = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(LATE_EVENING)


@pytest.fixture
async def deps(clock: Clock) -> Deps:
    deps = Deps(repo=MemoryConsentRepository(), publisher=RecordingPublisher(), clock=clock)
    await register_patient(deps, CID, date(1980, 5, 17))
    return deps


def names(deps: Deps) -> list[str]:
    assert isinstance(deps.publisher, RecordingPublisher)
    return deps.publisher.names(topics.CONSENT_EVENTS)


def test_the_attempt_day_is_the_bangkok_date() -> None:
    assert attempt_day(datetime(2026, 3, 1, 16, 59, tzinfo=UTC)) == "2026-03-01"
    assert attempt_day(datetime(2026, 3, 1, 17, 0, tzinfo=UTC)) == "2026-03-02"


async def test_the_sixth_attempt_is_refused_with_the_faq_message(deps: Deps) -> None:
    for attempt in range(1, 6):
        with pytest.raises(VerificationFailed, match=f"{5 - attempt} attempts left"):
            await verify_identity(deps, CID, "wrong-face")
    with pytest.raises(TooManyAttempts) as refused:
        await verify_identity(deps, CID, DEV_SCAN_OK)  # even the right face, today
    assert refused.value.status == 429
    assert REFUSED_TH in refused.value.detail and "try again tomorrow" in refused.value.detail
    assert names(deps)[-6:] == ["patient.verification_failed"] * 5 + [
        "patient.verification_refused"
    ]


async def test_the_counter_resets_at_bangkok_midnight(deps: Deps, clock: Clock) -> None:
    for _ in range(5):
        with pytest.raises(VerificationFailed):
            await verify_identity(deps, CID, "wrong-face")
    clock.now = LATE_EVENING + timedelta(minutes=29, seconds=59)  # 23:59:59 Bangkok
    with pytest.raises(TooManyAttempts):
        await verify_identity(deps, CID, DEV_SCAN_OK)
    clock.now = LATE_EVENING + timedelta(minutes=30)  # 00:00 the next Bangkok day
    result = await verify_identity(deps, CID, DEV_SCAN_OK)
    assert result["verified_at"] == clock.now.isoformat()
    assert names(deps)[-1] == "patient.verification_succeeded"
    patient = await deps.repo.get_patient(CID)
    assert patient is not None and patient["verified_at"] == clock.now


async def test_successes_do_not_use_up_the_day(deps: Deps) -> None:
    for _ in range(8):
        await verify_identity(deps, CID, DEV_SCAN_OK)
    with pytest.raises(VerificationFailed, match="4 attempts left"):
        await verify_identity(deps, CID, "wrong-face")


class DownVerifier:
    async def verify(self, cid: str, scan: str) -> bool:
        raise Transient("identity verifier unavailable")


async def test_a_verifier_outage_gives_the_attempt_back(deps: Deps) -> None:
    deps.verifier = DownVerifier()
    for _ in range(7):
        with pytest.raises(Transient):
            await verify_identity(deps, CID, DEV_SCAN_OK)
    deps.verifier = DevVerifier()
    await verify_identity(deps, CID, DEV_SCAN_OK)


async def test_the_http_verifier_asks_the_provider() -> None:
    seen: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        if b"outage" in request.content:
            return httpx.Response(503)
        return httpx.Response(200, json={"match": b"good" in request.content})

    verifier = HttpVerifier("http://verifier.test/v1/match", transport=httpx.MockTransport(answer))
    assert await verifier.verify(CID, "good-scan") is True
    assert await verifier.verify(CID, "bad-scan") is False
    with pytest.raises(Transient):
        await verifier.verify(CID, "outage")
    assert CID.encode() in seen[0]


def test_the_verifier_is_chosen_by_settings() -> None:
    assert isinstance(make_verifier(None, 5), DevVerifier)
    assert isinstance(make_verifier("http://127.0.0.1:9/match", 5), HttpVerifier)
