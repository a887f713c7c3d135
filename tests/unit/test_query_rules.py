"""The access rules as a property: no generated world ever shows a record the rules forbid.

The read path under test is the real one (``reads.visible``: the source
pre-filter, then ``see_all`` per record) over an in-memory chart store; the
oracle is the issue's rules written out plainly and independently.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.query import access, reads
from services.query.access import AccessContext, BreakGlass, Facts, Requester, Verdict
from services.query.chartparts import ChartIndex
from shared.coverage import ConsentState, HospitalState

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CODES = ["10670", "13781", "11535", "10669"]
ME = "11535"

codes = st.sampled_from(CODES)
per_visit = st.fixed_dictionaries(
    {
        "id": st.uuids().map(str),
        "requesting_hospital": codes,
        "sources": st.lists(codes, max_size=3, unique=True),
        "until": st.integers(-120, 120).map(lambda m: (NOW + timedelta(minutes=m)).isoformat()),
        "revoked": st.booleans(),
    }
)
consents = st.none() | st.builds(
    lambda all_, hospitals, sensitive, visits: ConsentState.model_validate(
        {
            "all_hospitals": all_,
            "hospitals": hospitals,
            "allow_sensitive": sensitive,
            "per_visit": visits,
        }
    ),
    st.booleans(),
    st.lists(codes, max_size=4, unique=True),
    st.booleans(),
    st.lists(per_visit, max_size=3),
)
records = st.lists(
    st.fixed_dictionaries(
        {"hospital": codes, "sensitive": st.booleans(), "category": st.just("diagnosis")}
    ),
    max_size=12,
)


class Charts:
    """In-memory stand-in for ``ChartStore.entries``."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries

    async def entries_for(self, sources: list[str]) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["hospital"] in sources]


def oracle(facts: Facts, record: dict[str, Any]) -> bool:
    """The issue's rules, plainly."""
    consent, hospital = facts.consent, facts.hospital
    if not (facts.physician_active and facts.on_roster and hospital and hospital.active):
        return False
    if consent is None:
        return False
    live = [v for v in consent.per_visit if not v.revoked and v.until > facts.now]
    standing = consent.all_hospitals or record["hospital"] in consent.hospitals
    glass = facts.break_glass is not None and facts.break_glass.until > facts.now
    if glass:
        return standing or any(record["hospital"] in v.sources for v in live)
    mine = any(v.requesting_hospital == ME and record["hospital"] in v.sources for v in live)
    source_ok = mine or (hospital.consent_mode == "standing" and standing)
    return source_ok and (not record["sensitive"] or consent.allow_sensitive)


def run_read(facts: Facts, entries: list[dict[str, Any]]) -> tuple[AccessContext, list[Any]]:
    ctx = AccessContext(Requester("12345", "Dr", ME), "1101700230705")
    if access.start(ctx, facts) is Verdict.REJECT:
        return ctx, []
    index: ChartIndex = {
        code: {"digest": "d", "n": sum(e["hospital"] == code for e in entries)}
        for code in {e["hospital"] for e in entries}
    }
    charts = Charts(entries)

    class Deps:
        class charts_:
            @staticmethod
            async def entries(cid: str, idx: ChartIndex, sources: list[str]) -> list[Any]:
                return await charts.entries_for(sources)

        charts = charts_

    shown = asyncio.run(reads.visible(Deps, ctx, index))  # type: ignore[arg-type]
    return ctx, shown


@settings(max_examples=400, deadline=None)
@given(
    consent=consents,
    mode=st.sampled_from(["standing", "per-visit"]),
    on_roster=st.booleans(),
    active=st.booleans(),
    hospital_active=st.booleans(),
    glass_minutes=st.none() | st.integers(-30, 30),
    entries=records,
)
def test_no_world_shows_a_forbidden_record(
    consent: ConsentState | None,
    mode: str,
    on_roster: bool,
    active: bool,
    hospital_active: bool,
    glass_minutes: int | None,
    entries: list[dict[str, Any]],
) -> None:
    glass = None
    if glass_minutes is not None:
        glass = BreakGlass("emergency", NOW + timedelta(minutes=glass_minutes))
    facts = Facts(
        now=NOW,
        physician_active=active,
        on_roster=on_roster,
        hospital=HospitalState(
            code=ME, name="Chula", role="consumer", consent_mode=mode, active=hospital_active
        ),
        consent=consent,
        break_glass=glass,
    )
    ctx, shown = run_read(facts, entries)
    allowed = [e for e in entries if oracle(facts, e)]
    assert all(oracle(facts, e) for e in shown), "a forbidden record was returned"
    assert sorted(map(id, shown)) == sorted(map(id, allowed)), "an allowed record went missing"
    assert ctx.hidden == len(entries) - len(shown) or ctx.verdict is Verdict.REJECT
    event = access.complete(ctx)
    assert event["decision"] == ("permit" if ctx.verdict is Verdict.PROCEED else "deny")
    assert event["break_glass"] == (ctx.break_glass is not None)


def test_unauthenticated_is_rejected_with_a_reason() -> None:
    ctx = AccessContext(None, "1101700230705")
    assert access.start(ctx, Facts(now=NOW)) is Verdict.REJECT
    assert access.complete(ctx)["decision"] == "deny"
    assert ctx.reason == "not authenticated"


def test_per_visit_hospital_ignores_standing_consent() -> None:
    consent = ConsentState(all_hospitals=True, allow_sensitive=True)
    hospital = HospitalState(code=ME, name="Chula", role="consumer", consent_mode="per-visit")
    ctx = AccessContext(Requester("1", "Dr", ME), "1101700230705")
    facts = Facts(NOW, True, True, hospital, consent)
    assert access.start(ctx, facts) is Verdict.REJECT
    assert "per-visit" in ctx.reason
