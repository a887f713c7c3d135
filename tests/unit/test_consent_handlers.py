"""Consent use cases over the in-memory repository and a recording publisher."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.consent import consents, registry, subscribers
from services.consent.errors import AlreadyRegistered, HospitalNotFound, PatientNotFound
from services.consent.fakes import MemoryConsentRepository
from services.consent.handlers import Deps, Marks, register_patient, relay
from shared import topics
from shared.broker import RecordingPublisher
from shared.errors import InvalidInput
from shared.events import Envelope
from tests.support.cids import CID, OTHER
from tests.support.clock import Clock

pytestmark = pytest.mark.unit
START = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def deps(clock: Clock) -> Deps:
    return Deps(repo=MemoryConsentRepository(), publisher=RecordingPublisher(), clock=clock)


def sent(deps: Deps, topic: str) -> list[Envelope]:
    assert isinstance(deps.publisher, RecordingPublisher)
    return [e for t, e in deps.publisher.sent if t == topic]


def data_requests(deps: Deps) -> list[Envelope]:
    """Data requests, each on its hospital's own topic."""
    assert isinstance(deps.publisher, RecordingPublisher)
    found = [(t, e) for t, e in deps.publisher.sent if t.startswith(topics.DATA_REQUESTS + ".")]
    assert all(t == f"{topics.DATA_REQUESTS}.{e.subject}" for t, e in found)
    return [e for _, e in found]


def requests(deps: Deps) -> set[tuple[str, str]]:
    return {(e.data["patient"], e.subject) for e in data_requests(deps)}


async def setup(deps: Deps, *cids: str) -> None:
    await registry.register_hospital(deps, "10670", "Siriraj", "provider", "standing")
    await registry.register_hospital(deps, "11535", "Chulalongkorn", "consumer", "per-visit")
    for cid in cids or (CID,):
        await register_patient(deps, cid, date(1980, 5, 17))


async def test_registration_once_per_cid_with_an_event(deps: Deps) -> None:
    await register_patient(deps, CID, date(1980, 5, 17))
    with pytest.raises(AlreadyRegistered):
        await register_patient(deps, CID, date(1980, 5, 17))
    with pytest.raises(InvalidInput):
        await register_patient(deps, OTHER, date(2010, 1, 1))
    [event] = sent(deps, topics.CONSENT_EVENTS)
    assert event.name == "patient.registered" and event.subject == CID
    assert await deps.repo.pending("patients") == []


async def test_a_grant_covering_a_provider_requests_its_data_once(deps: Deps) -> None:
    await setup(deps)
    first = await consents.grant_hospitals(deps, CID, {"10670", "11535"})
    again = await consents.grant_hospitals(deps, CID, {"10670"})
    assert first["version"] == again["version"] == 1
    assert requests(deps) == {(CID, "10670")}  # the consumer 11535 has nothing to send
    [granted] = [e for e in sent(deps, topics.CONSENT_EVENTS) if e.name == "consent.granted"]
    assert granted.data["version"] == 1
    assert granted.data["state"]["hospitals"] == ["10670", "11535"]


async def test_bad_consent_input_is_refused(deps: Deps, clock: Clock) -> None:
    await setup(deps)
    with pytest.raises(HospitalNotFound):
        await consents.grant_hospitals(deps, CID, {"99999"})
    with pytest.raises(InvalidInput):
        await consents.grant_hospitals(deps, CID, {"abc"})
    with pytest.raises(PatientNotFound):
        await consents.grant_all(deps, OTHER)
    with pytest.raises(InvalidInput, match="past"):
        await consents.grant_visit(deps, CID, "11535", {"10670"}, clock.now - timedelta(hours=1))
    with pytest.raises(HospitalNotFound):
        await consents.grant_visit(deps, CID, "99999", {"10670"}, clock.now + timedelta(hours=1))


async def test_revocation_publishes_the_state_without_the_hospital(deps: Deps) -> None:
    await setup(deps)
    await consents.grant_hospitals(deps, CID, {"10670"})
    result = await consents.revoke_hospitals(deps, CID, {"10670"})
    assert result["hospitals"] == [] and result["version"] == 2
    last = sent(deps, topics.CONSENT_EVENTS)[-1]
    assert last.name == "consent.revoked" and last.data == {
        "version": 2,
        "state": {
            "all_hospitals": False,
            "hospitals": [],
            "allow_sensitive": False,
            "per_visit": [],
        },
    }


async def test_all_hospitals_covers_a_provider_that_joins_afterwards(deps: Deps) -> None:
    await setup(deps, CID, OTHER)
    await consents.grant_all(deps, CID)
    await consents.grant_hospitals(deps, OTHER, {"10670"})
    assert requests(deps) == {(CID, "10670"), (OTHER, "10670")}
    joined = await registry.register_hospital(deps, "13781", "Ramathibodi", "provider", "standing")
    [event] = [e for e in sent(deps, topics.HOSPITAL_EVENTS) if e.subject == "13781"]
    assert joined["provider_since"] == joined["joined_at"]
    assert await registry.pull_for_new_provider(deps, event) == 1
    assert (CID, "13781") in requests(deps) and (OTHER, "13781") not in requests(deps)


async def test_a_consumer_becoming_provider_is_covered_by_all_hospitals(
    deps: Deps, clock: Clock
) -> None:
    await setup(deps)
    await consents.grant_all(deps, CID)
    assert (CID, "11535") not in requests(deps)
    clock.now += timedelta(days=30)
    state = await registry.update_hospital(deps, "11535", role="provider")
    assert state["role"] == "provider" and state["provider_since"] == clock.now.isoformat()
    event = sent(deps, topics.HOSPITAL_EVENTS)[-1]
    assert event.name == "hospital.became_provider" and event.data["version"] == 2
    await subscribers.on_hospital_event(deps, event)
    await subscribers.on_hospital_event(deps, event)  # redelivered: the same request id
    ids = [e.id for e in data_requests(deps) if e.subject == "11535"]
    assert len(set(ids)) == 1 and (CID, "11535") in requests(deps)


async def test_a_hospital_is_suspended_and_reinstated_with_full_state_events(
    deps: Deps,
) -> None:
    await setup(deps)
    state = await registry.update_hospital(deps, "10670", active=False)
    assert state["active"] is False and state["role"] == "provider"
    event = sent(deps, topics.HOSPITAL_EVENTS)[-1]
    assert event.name == "hospital.updated" and event.data["state"]["active"] is False
    again = await registry.update_hospital(deps, "10670", active=False)
    assert again["version"] == state["version"]  # nothing changed: no new version
    back = await registry.update_hospital(deps, "10670", active=True)
    assert back["active"] is True and back["version"] == state["version"] + 1


async def test_hospital_registration_is_idempotent_and_conflicts_are_refused(deps: Deps) -> None:
    await setup(deps)
    again = await registry.register_hospital(deps, "10670", "Siriraj", "provider", "standing")
    assert again["version"] == 1
    with pytest.raises(Exception, match="already registered"):
        await registry.register_hospital(deps, "10670", "Other", "consumer", "standing")
    with pytest.raises(Exception, match="cannot go back"):
        await registry.update_hospital(deps, "10670", role="consumer")
    with pytest.raises(HospitalNotFound):
        await registry.update_hospital(deps, "12345", name="x")


async def test_per_visit_consent_expires_on_time_with_one_event(deps: Deps, clock: Clock) -> None:
    await setup(deps)
    end = clock.now + timedelta(hours=1)
    granted = await consents.grant_visit(deps, CID, "11535", {"10670"}, end)
    assert granted["per_visit"][0]["requesting_hospital"] == "11535"
    assert (CID, "10670") in requests(deps)
    clock.now = end - timedelta(seconds=1)
    assert await consents.expire_due(deps) == 0
    clock.now = end
    assert await consents.expire_due(deps) == 1
    assert await consents.expire_due(deps) == 0
    [expired] = [e for e in sent(deps, topics.CONSENT_EVENTS) if e.name.endswith("expired")]
    assert expired.data["expired"] == [granted["visit"]["id"]]
    assert expired.data["version"] == 2 and expired.data["state"]["per_visit"] == []


class YieldingRepo(MemoryConsentRepository):
    """Lets another task run between the read and the write (two instances racing)."""

    async def get(self, kind: str, key: str) -> tuple[int, dict[str, Any]]:
        found = await super().get(kind, key)
        await asyncio.sleep(0)
        return found


async def test_two_expiry_loops_publish_one_expiry(clock: Clock) -> None:
    repo, publisher = YieldingRepo(), RecordingPublisher()
    one = Deps(repo=repo, publisher=publisher, clock=clock)
    two = Deps(repo=repo, publisher=publisher, clock=clock)
    await setup(one)
    await consents.grant_visit(one, CID, "11535", {"10670"}, clock.now + timedelta(minutes=5))
    clock.now += timedelta(minutes=5)
    assert sum(await asyncio.gather(consents.expire_due(one), consents.expire_due(two))) == 1
    assert publisher.names(topics.CONSENT_EVENTS).count("consent.per_visit_expired") == 1


async def test_revoking_a_visit_and_everything(deps: Deps, clock: Clock) -> None:
    await setup(deps)
    await consents.grant_hospitals(deps, CID, {"10670"})
    visit = await consents.grant_visit(deps, CID, "11535", {"10670"}, clock.now + timedelta(days=1))
    after = await consents.revoke_visit(deps, CID, visit["visit"]["id"])
    assert after["per_visit"][0]["revoked"] is True
    everything = await consents.revoke_all(deps, CID)
    assert everything["hospitals"] == [] and not everything["all_hospitals"]
    history = await consents.read_history(deps, CID)
    assert [h["version"] for h in history] == [1, 2, 3, 4]


class FlakyPublisher(RecordingPublisher):
    def __init__(self) -> None:
        super().__init__()
        self.down = True

    async def publish(self, topic: str, event: Envelope) -> None:
        if self.down:
            raise ConnectionError("broker away")
        await super().publish(topic, event)


async def test_an_unpublished_change_stays_in_the_outbox_until_relayed(clock: Clock) -> None:
    publisher = FlakyPublisher()
    deps = Deps(repo=MemoryConsentRepository(), publisher=publisher, clock=clock)
    publisher.down = False
    await setup(deps)
    publisher.down = True
    with pytest.raises(ConnectionError):
        await consents.grant_hospitals(deps, CID, {"10670"})
    publisher.down = False
    assert await relay(deps, grace=timedelta(days=1)) == 0  # maybe still being published
    clock.now = datetime.now(UTC) + timedelta(seconds=6)
    assert await relay(deps) == 2  # the consent event and its data request
    assert await relay(deps) == 0
    assert publisher.names(topics.CONSENT_EVENTS)[-1] == "consent.granted"


async def test_the_outbox_is_cleared_after_the_answer_and_before_the_stop(clock: Clock) -> None:
    """In the service, clearing a published event from the outbox is off the request's
    path (``Marks(background=True)``); stopping waits for what is still running."""
    deps = Deps(
        repo=MemoryConsentRepository(),
        publisher=RecordingPublisher(),
        clock=clock,
        marks=Marks(background=True),
    )
    await setup(deps)
    await consents.grant_hospitals(deps, CID, {"10670"})
    assert sent(deps, topics.CONSENT_EVENTS)[-1].name == "consent.granted"
    await deps.marks.drain()
    assert await deps.repo.pending("consents") == []


class CountingRepository(MemoryConsentRepository):
    """Counts reads of hospitals."""

    def __init__(self) -> None:
        super().__init__()
        self.hospital_reads = 0

    async def get(self, kind: str, key: str) -> tuple[int, dict[str, Any]]:
        self.hospital_reads += kind == "hospitals"
        return await super().get(kind, key)


async def test_a_hospital_seen_registered_is_not_read_again(clock: Clock) -> None:
    repo = CountingRepository()
    deps = Deps(repo=repo, publisher=RecordingPublisher(), clock=clock)
    await setup(deps, CID, OTHER)
    await consents.grant_hospitals(deps, CID, {"10670", "11535"})
    reads = repo.hospital_reads
    await consents.grant_hospitals(deps, OTHER, {"10670", "11535"})
    assert repo.hospital_reads == reads  # both seen: no look-up
    with pytest.raises(HospitalNotFound, match="99999"):  # an unknown one still is
        await consents.grant_hospitals(deps, OTHER, {"10670", "99999"})
    with pytest.raises(HospitalNotFound, match="99998"):  # and again: never remembered
        await consents.grant_hospitals(deps, OTHER, {"99998", "99999"})


class OneTopicDown(RecordingPublisher):
    """Refuses one topic: a broker that takes some of a change's events and not others."""

    def __init__(self, topic: str) -> None:
        super().__init__()
        self.down: str | None = topic

    async def publish(self, topic: str, event: Envelope) -> None:
        if topic == self.down:
            raise ConnectionError("partition unavailable")
        await super().publish(topic, event)


async def test_a_change_whose_data_request_failed_stays_whole_in_the_outbox(
    clock: Clock,
) -> None:
    publisher = OneTopicDown(f"{topics.DATA_REQUESTS}.10670")
    deps = Deps(repo=MemoryConsentRepository(), publisher=publisher, clock=clock)
    await setup(deps)
    await registry.register_hospital(deps, "10671", "Other", "provider", "standing")
    with pytest.raises(ConnectionError):
        await consents.grant_hospitals(deps, CID, {"10670", "10671"})
    assert publisher.names()[-2:] == ["consent.granted", "data.requested"]  # state first
    assert len(await deps.repo.pending("consents")) == 3  # nothing cleared: all again
    publisher.down = None
    clock.now = datetime.now(UTC) + timedelta(seconds=6)
    assert await relay(deps) == 3
    assert await deps.repo.pending("consents") == []
    assert requests(deps) == {(CID, "10670"), (CID, "10671")}


async def test_background_clears_reach_the_database_a_few_at_a_time() -> None:
    marks, running, most = Marks(background=True, in_flight=2), 0, 0

    async def write() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1

    for _ in range(6):
        await marks.clear(write())
    await marks.drain()
    assert most == 2 and running == 0
