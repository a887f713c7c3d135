"""The read-model contract other services decide with: ConsentView and HospitalView."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.consent.domain import ConsentState, HospitalState, PerVisit
from shared.errors import Rejected
from shared.events import make_event
from shared.projections import ConsentView, HospitalView, versioned

pytestmark = pytest.mark.unit
NOW = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)


def view(state: ConsentState) -> ConsentView:
    return ConsentView.from_doc({"_id": "cid", "version": 3, "state": state.to_doc()})


def test_per_visit_allows_only_the_requesting_hospital_until_the_end() -> None:
    end = NOW + timedelta(hours=1)
    consent = view(ConsentState().add_visit(PerVisit("v", "11535", frozenset({"10670"}), end)))
    assert consent.per_visit_allows("11535", "10670", NOW)
    assert not consent.per_visit_allows("11535", "13781", NOW)
    assert not consent.per_visit_allows("99999", "10670", NOW)
    assert not consent.per_visit_allows("11535", "10670", end)
    assert not consent.covers_source("10670")
    assert consent.may_send("10670", NOW) and not consent.may_send("10670", end)


def test_a_revoked_visit_allows_nothing() -> None:
    visit = PerVisit("v", "11535", frozenset({"10670"}), NOW + timedelta(hours=1), revoked=True)
    consent = view(ConsentState().add_visit(visit))
    assert not consent.per_visit_allows("11535", "10670", NOW)
    assert not consent.may_send("10670", NOW)


def test_standing_consent_lets_a_source_send() -> None:
    assert view(ConsentState().grant({"10670"})).may_send("10670", NOW)
    assert view(ConsentState().grant_all()).may_send("55555", NOW)


def test_hospital_view_reads_the_published_state() -> None:
    state = HospitalState.join("11535", "Chula", "consumer", "per-visit", NOW).become_provider(NOW)
    hospital = HospitalView.from_state("11535", state.to_doc())
    assert hospital.is_provider and hospital.per_visit_only
    assert hospital.provider_since == NOW.isoformat()


def test_a_state_event_without_version_or_state_is_rejected() -> None:
    good = make_event("consent.granted", source="t", subject="c", data={"version": 1, "state": {}})
    assert versioned(good) == (1, {})
    for data in ({"version": "1", "state": {}}, {"version": 0, "state": {}}, {"state": []}):
        bad = make_event("consent.granted", source="t", subject="c", data=data)
        with pytest.raises(Rejected):
            versioned(bad)
