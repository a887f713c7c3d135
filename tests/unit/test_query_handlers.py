"""The query use cases over the in-memory fakes: sign-in and rosters, reads under consent,
break-glass, and charts fed by ``records.stored`` (redelivery included). No I/O."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from services.query import breakglass, physicians, reads
from services.query.chartparts import ChartIndex
from services.query.errors import LockedOut
from shared.errors import Forbidden, InvalidInput, NotFound, Rejected, Unauthorized
from shared.events import (
    BreakGlassDeclared,
    PhysicianAdded,
    PhysicianLockedOut,
    PhysicianRemoved,
    PhysicianSignedIn,
    RecordAccessed,
    SignInFailed,
)
from tests.support.query_fakes import (
    CID,
    LICENCE,
    PIN,
    READER,
    SOURCE_A,
    SOURCE_B,
    World,
    observation,
    stored,
)
from tests.support.searchsets import limits_of, records_of

pytestmark = pytest.mark.unit


def link(offset: int) -> str:
    return f"http://test/fhir?_offset={offset}"


async def ready_world(**consent: Any) -> tuple[World, str]:
    """Two sources with records, a reading hospital, a signed-in physician."""
    world = World()
    for code in (SOURCE_A, SOURCE_B, READER):
        await world.hospital(code)
    await world.physician()
    await world.consent(**consent)
    outcomes = await world.store(
        stored(SOURCE_A, observation("a1", day=1), observation("a2", day=2, sensitive=True)),
        stored(SOURCE_B, observation("b1", day=3)),
    )
    assert outcomes == [None, None]
    signed = await physicians.sign_in(world.deps, LICENCE, PIN, READER)
    return world, signed["access_token"]


def ids(body: bytes) -> list[str]:
    return [e["resource"]["id"] for e in records_of(json.loads(body))]


def limits(body: bytes) -> list[str]:
    return limits_of(json.loads(body))


def accessed(world: World) -> list[dict[str, Any]]:
    return [e.data for e in world.published.of(RecordAccessed)]


async def test_sign_in_gives_a_token_for_the_hospital_and_says_so() -> None:
    world = World()
    await world.hospital(READER)
    await world.physician()
    signed = await physicians.sign_in(world.deps, LICENCE, PIN, READER)
    assert signed["hospital"] == READER and signed["token_type"] == "bearer"
    (event,) = world.published.of(PhysicianSignedIn)
    assert event.data["physician"] == LICENCE and event.data["hospital"] == READER


async def test_sign_in_refusals_are_security_events() -> None:
    world = World()
    await world.hospital(READER)
    await world.hospital(SOURCE_A)
    await world.physician()
    with pytest.raises(Unauthorized):
        await physicians.sign_in(world.deps, LICENCE, "9999", READER)
    with pytest.raises(Unauthorized):
        await physicians.sign_in(world.deps, "777", PIN, READER)  # unknown licence
    with pytest.raises(Forbidden, match="roster"):
        await physicians.sign_in(world.deps, LICENCE, PIN, SOURCE_A)
    reasons = [e.data["reason"] for e in world.published.of(SignInFailed)]
    assert reasons == ["bad-credentials", "bad-credentials", "not-on-roster"]


async def test_failed_sign_ins_lock_the_licence_until_the_lockout_ends() -> None:
    world = World()
    await world.hospital(READER)
    await world.physician()
    limit = world.settings.max_sign_in_failures
    for _ in range(limit):
        with pytest.raises(Unauthorized):
            await physicians.sign_in(world.deps, LICENCE, "0000", READER)
    assert len(world.published.of(PhysicianLockedOut)) == 1
    with pytest.raises(LockedOut):  # even with the right PIN
        await physicians.sign_in(world.deps, LICENCE, PIN, READER)
    assert world.published.of(SignInFailed)[-1].data["reason"] == "locked-out"
    world.clock.advance(world.settings.lockout_s + 1)
    assert (await physicians.sign_in(world.deps, LICENCE, PIN, READER))["access_token"]


async def test_roster_changes_are_idempotent_and_published_once() -> None:
    world = World()
    await world.deps.registry.put(LICENCE, "Dr", "$argon2id$x")
    with pytest.raises(NotFound):
        await physicians.add_to_roster(world.deps, READER, "999")
    assert await physicians.add_to_roster(world.deps, READER, LICENCE) == [LICENCE]
    assert await physicians.add_to_roster(world.deps, READER, LICENCE) == [LICENCE]
    assert await physicians.remove_from_roster(world.deps, READER, LICENCE) == []
    assert await physicians.remove_from_roster(world.deps, READER, LICENCE) == []
    assert len(world.published.of(PhysicianAdded)) == 1
    assert len(world.published.of(PhysicianRemoved)) == 1


async def test_a_licence_is_loaded_with_its_pin_hashed() -> None:
    world = World()
    await physicians.register_licence(world.deps, "4321", "Dr Malee", "1357", True)
    entry = await world.deps.registry.get("4321")
    assert entry is not None and entry["pin_hash"].startswith("$argon2id$")
    assert physicians.pin_matches(entry["pin_hash"], "1357")
    await physicians.register_licence(world.deps, "4321", "Dr Malee", entry["pin_hash"], False)
    again = await world.deps.registry.get("4321")
    assert again is not None and again["pin_hash"] == entry["pin_hash"] and not again["active"]


async def test_everything_shows_only_consented_sources_and_is_audited() -> None:
    world, token = await ready_world(hospitals=[SOURCE_A])
    body = await reads.everything(world.deps, token, CID, [], link)
    assert ids(body) == ["a1"]  # B is not consented, a2 is sensitive
    # the Bundle says the consent's limits, not what they hid (no count, no hospital)
    assert limits(body) == ["chosen-hospitals", "sensitive-not-shared"]
    assert "13781" not in body.decode() and json.loads(body)["total"] == 1
    (event,) = accessed(world)
    assert event["decision"] == "permit" and event["count"] == 1 and event["hidden"] == 2
    assert event["sources"] == [SOURCE_A] and event["physician"] == LICENCE


async def test_refusals_are_audited_with_their_reason() -> None:
    """Refusals of signed-in physicians; an unauthenticated request is no one's access and
    stays out of the patient's log (issue 12)."""
    world, token = await ready_world(hospitals=[SOURCE_A])
    with pytest.raises(Unauthorized):
        await reads.everything(world.deps, None, CID, [], link)
    with pytest.raises(InvalidInput):
        await reads.patient_summary(world.deps, token, "1234567890123")
    await physicians.remove_from_roster(world.deps, READER, LICENCE)
    with pytest.raises(Forbidden, match="roster"):
        await reads.everything(world.deps, token, CID, [], link)  # on the next request
    reasons = [(e["decision"], e["reason"]) for e in accessed(world)]
    assert reasons == [
        ("deny", "malformed CID: 13 digits with a valid check digit expected"),
        ("deny", "physician is not on the hospital's roster"),
    ]


async def test_a_revoked_consent_closes_the_record() -> None:
    world, token = await ready_world(all_hospitals=True, allow_sensitive=True)
    body = await reads.everything(world.deps, token, CID, [], link)
    assert sorted(ids(body)) == ["a1", "a2", "b1"]
    assert limits(body) == [] and "outcome" not in body.decode()  # nothing left out
    await world.consent()  # the next version: nothing consented
    with pytest.raises(Forbidden, match="consented"):
        await reads.everything(world.deps, token, CID, [], link)


async def test_a_refusal_leaves_the_chart_index_read_under_way_to_finish() -> None:
    """A cancelled database operation closes its connection (the next request pays for a
    new one): a refused read stops waiting for the chart index, not the read itself."""
    world, token = await ready_world(hospitals=[SOURCE_A])
    await world.consent()  # nothing consented any more
    charts, finished = world.deps.charts, []
    index = charts.index

    async def slow_index(cid: str) -> ChartIndex:
        await asyncio.sleep(0.05)
        finished.append(cid)
        return await index(cid)

    charts.index = slow_index  # type: ignore[method-assign]
    with pytest.raises(Forbidden, match="consented"):
        await reads.everything(world.deps, token, CID, [], link)
    assert finished == []  # refused without waiting for it
    await asyncio.sleep(0.1)
    assert finished == [CID]


async def test_search_and_summary_read_the_same_consented_records() -> None:
    world, token = await ready_world(hospitals=[SOURCE_A, SOURCE_B])
    pairs = [("patient", CID), ("date", "ge2026-01-02")]
    assert ids(await reads.search(world.deps, token, "Observation", pairs, link)) == ["b1"]
    with pytest.raises(NotFound):
        await reads.search(world.deps, token, "Spaceship", [("patient", CID)], link)
    found = await reads.patient_summary(world.deps, token, CID)
    assert found["total"] == 2
    (laboratory,) = found["categories"]
    references = [item["reference"] for item in laboratory["items"]]
    assert references == ["Observation/b1", "Observation/a1"]
    assert laboratory["sources"] == {SOURCE_A: 1, SOURCE_B: 1}


async def test_break_glass_shows_sensitive_records_for_a_while() -> None:
    world, token = await ready_world(hospitals=[SOURCE_A])
    with pytest.raises(InvalidInput):
        await breakglass.declare_break_glass(world.deps, token, CID, _bad_reason)
    declared = await breakglass.declare_break_glass(
        world.deps, token, CID, lambda: "unconscious, allergies unknown"
    )
    assert declared["hospital"] == READER
    (event,) = world.published.of(BreakGlassDeclared)
    assert event.data["patient"] == CID
    body = await reads.everything(world.deps, token, CID, [], link)
    assert ids(body) == ["a2", "a1"]
    assert limits(body) == ["break-glass", "chosen-hospitals"]  # sensitive data shown
    assert accessed(world)[-1]["break_glass"] is True
    world.clock.advance(world.settings.break_glass_ttl_s + 1)
    body = await reads.everything(world.deps, token, CID, [], link)
    assert ids(body) == ["a1"] and limits(body) == ["chosen-hospitals", "sensitive-not-shared"]


def _bad_reason() -> str:
    raise InvalidInput("reason too short")


async def test_redelivered_and_older_records_change_nothing() -> None:
    world, _ = await ready_world(hospitals=[SOURCE_A])
    newer = stored(SOURCE_A, observation("a1", day=5, rank="2"), upload="u2")
    assert await world.store(newer) == [None]
    before = await world.deps.charts.index(CID)
    older = stored(SOURCE_A, observation("a1", day=9, rank="1"), upload="u1")
    assert await world.store(older, newer) == [None, None]  # late and redelivered
    assert await world.deps.charts.index(CID) == before
    entries = await world.deps.charts.entries(CID, before, [SOURCE_A])
    assert {(e["id"], e["rank"]) for e in entries} == {("a1", "2"), ("a2", "1")}


async def test_an_unreadable_event_is_rejected_alone() -> None:
    world = World()
    outcomes = await world.store(b"not json", stored(SOURCE_A, observation("a1")))
    assert isinstance(outcomes[0], Rejected) and outcomes[1] is None
    assert (await world.deps.charts.index(CID))[SOURCE_A]["n"] == 1


async def test_an_older_consent_version_is_not_applied() -> None:
    world = World()
    await world.consent(hospitals=[SOURCE_A])
    await world.consent(hospitals=[SOURCE_B])
    world.versions[CID] = 1  # redelivery of version 2 after 2, then a stale version 2
    await world.consent(hospitals=[SOURCE_A])
    view = await world.deps.view.consent(CID)
    assert view is not None and view.version == 2 and view.state.hospitals == (SOURCE_B,)
