"""The consent service's state and every projection of it agree, for generated histories.

Histories of hospitals joining and becoming providers, grants, revocations, per-visit
consents, expiries and sensitive-data choices go through the consent use cases (with
the in-memory repository). What they published is then delivered to a projection as
ingest, query and notify keep it — duplicated and shuffled, as at-least-once delivery
and a replay may — and the projection must end with exactly the consent service's
states, so every predicate of ``shared.coverage`` answers the same on both sides.
Every provider the final consent lets send must also have been asked for the data.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.consent import consents, registry, subscribers
from services.consent.consents import expire_due
from services.consent.fakes import MemoryConsentRepository
from services.consent.handlers import Deps, register_patient
from shared.broker import RecordingPublisher
from shared.coverage import ConsentState, HospitalState
from shared.errors import HealthLinkError
from shared.events import DataRequested, Envelope, HospitalChanged, parse
from shared.projections import ConsentProjection
from tests.support.clock import Clock

START = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
CIDS = ("1101700123456", "3101700123452")
CODES = ("10670", "11535", "13781")

cids = st.sampled_from(CIDS)
codes = st.sampled_from(CODES)
code_sets = st.sets(codes, min_size=1, max_size=3)
operations = st.one_of(
    st.tuples(st.just("join"), codes, st.sampled_from(["consumer", "provider"]),
              st.sampled_from(["standing", "per-visit"])),
    st.tuples(st.just("promote"), codes),
    st.tuples(st.just("grant"), cids, code_sets),
    st.tuples(st.just("revoke"), cids, code_sets),
    st.tuples(st.sampled_from(["grant_all", "revoke_standing", "revoke_all",
                               "revoke_all_hospitals"]), cids),
    st.tuples(st.just("sensitive"), cids, st.booleans()),
    st.tuples(st.just("visit"), cids, codes, code_sets, st.integers(1, 120)),
    st.tuples(st.just("revoke_visit"), cids, st.integers(0, 3)),
    st.tuples(st.just("tick"), st.integers(1, 90)),
)  # fmt: skip


async def run(deps: Deps, clock: Clock, op: tuple[Any, ...]) -> None:
    kind, *args = op
    if kind == "join":
        await registry.register_hospital(deps, args[0], f"H{args[0]}", args[1], args[2])
    elif kind == "promote":
        await registry.update_hospital(deps, args[0], role="provider")
    elif kind == "grant":
        await consents.grant_hospitals(deps, args[0], set(args[1]))
    elif kind == "revoke":
        await consents.revoke_hospitals(deps, args[0], set(args[1]))
    elif kind == "sensitive":
        await consents.set_sensitive(deps, args[0], args[1])
    elif kind == "visit":
        until = clock.now + timedelta(minutes=args[3])
        await consents.grant_visit(deps, args[0], args[1], set(args[2]), until)
    elif kind == "revoke_visit":
        visits = (await consents.read_consent(deps, args[0]))["per_visit"]
        if visits:
            await consents.revoke_visit(deps, args[0], visits[args[1] % len(visits)]["id"])
    elif kind == "tick":
        clock.now += timedelta(minutes=args[0])
        await expire_due(deps)
    else:
        await getattr(consents, kind)(deps, args[0])


async def history(ops: list[tuple[Any, ...]]) -> tuple[Deps, Clock, list[tuple[str, Envelope]]]:
    clock = Clock(START)
    publisher = RecordingPublisher()
    deps = Deps(repo=MemoryConsentRepository(), publisher=publisher, clock=clock)
    for cid in CIDS:
        await register_patient(deps, cid, date(1980, 5, 17))
    seen = 0
    for op in ops:
        # Refused (unknown hospital, no such visit, a downgrade...): nothing changed.
        with contextlib.suppress(HealthLinkError):
            await run(deps, clock, op)
        # The consent service reads its own hospital events (new providers pull data).
        fresh, seen = publisher.sent[seen:], len(publisher.sent)
        for _, event in fresh:
            if isinstance(parse(event), HospitalChanged):
                await subscribers.on_hospital_event(deps, event)
    return deps, clock, publisher.sent


async def projected(sent: list[tuple[str, Envelope]], rng: random.Random) -> ConsentProjection:
    """Delivered at least once, in any order across and within subjects."""
    deliveries = [e for _, e in sent] + [e for _, e in sent if rng.random() < 0.3]
    rng.shuffle(deliveries)
    view = ConsentProjection.in_memory()
    for event in deliveries:
        if isinstance(parse(event), HospitalChanged):
            await view.on_hospital_event(event)
        else:
            await view.on_consent_event(event)
    return view


async def check(ops: list[tuple[Any, ...]], rng: random.Random) -> None:
    deps, clock, sent = await history(ops)
    view = await projected(sent, rng)
    repo = deps.repo
    for code in CODES:
        version, state = await repo.get("hospitals", code)
        copy = await view.hospital(code)
        assert (copy is None) == (version == 0)
        assert copy is None or copy == HospitalState.model_validate(state)
    requested = {
        (request.patient, request.hospital)
        for _, e in sent
        if isinstance(request := parse(e), DataRequested)
    }
    providers = await repo.providers()
    for cid in CIDS:
        version, doc = await repo.get("consents", cid)
        held = await view.consent(cid)
        assert (held is None) == (version == 0)
        if held is None:
            continue
        state = ConsentState.model_validate(doc)
        assert (held.version, held.state) == (version, state)
        for code in providers:
            if state.may_send(code, clock.now):
                assert (cid, code) in requested, f"{code} may send {cid}'s data, never asked"


LISTED_THEN_PROMOTED = [
    ("join", "10670", "consumer", "standing"),
    ("grant", CIDS[0], {"10670"}),
    ("promote", "10670"),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operations, max_size=25), seed=st.integers(0, 2**16))
@example(ops=LISTED_THEN_PROMOTED, seed=1)
def test_consent_service_and_projections_agree(ops: list[tuple[Any, ...]], seed: int) -> None:
    asyncio.run(check(ops, random.Random(seed)))
