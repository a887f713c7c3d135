"""The consent-coverage contract other services decide with (``shared.coverage``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.consent import domain
from shared.coverage import ConsentState, HospitalState, PerVisitConsent
from shared.errors import Rejected
from shared.events import ConsentGranted, Envelope, HospitalChanged, event_type

pytestmark = pytest.mark.unit
NOW = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)


def visit(until: datetime, revoked: bool = False) -> PerVisitConsent:
    return PerVisitConsent(
        id="v", requesting_hospital="11535", sources=("10670",), until=until, revoked=revoked
    )


def test_per_visit_lets_only_the_requesting_hospital_read_until_the_end() -> None:
    end = NOW + timedelta(hours=1)
    consent = domain.add_visit(ConsentState(), visit(end))
    assert consent.may_read("11535", "10670", NOW, per_visit_only=True)
    assert not consent.may_read("11535", "13781", NOW, per_visit_only=False)
    assert not consent.may_read("99999", "10670", NOW, per_visit_only=False)
    assert not consent.may_read("11535", "10670", end, per_visit_only=False)
    assert not consent.covers_source("10670")
    assert consent.may_send("10670", NOW) and not consent.may_send("10670", end)


def test_a_revoked_visit_allows_nothing() -> None:
    consent = domain.add_visit(ConsentState(), visit(NOW + timedelta(hours=1), revoked=True))
    assert not consent.may_read("11535", "10670", NOW, per_visit_only=True)
    assert not consent.may_send("10670", NOW)
    assert not consent.any_consent(NOW)


def test_standing_consent_lets_a_source_send_but_not_a_per_visit_hospital_read() -> None:
    listed = domain.grant(ConsentState(), {"10670"})
    assert listed.may_send("10670", NOW) and not listed.may_send("13781", NOW)
    assert listed.may_read("11535", "10670", NOW, per_visit_only=False)
    assert not listed.may_read("11535", "10670", NOW, per_visit_only=True)
    assert domain.grant_all(ConsentState()).may_send("55555", NOW)


def test_hospital_state_reads_what_was_published() -> None:
    joined = domain.join("11535", "Chula", "consumer", "per-visit", NOW)
    hospital = HospitalState.model_validate(
        domain.become_provider(joined, NOW).model_dump(mode="json")
    )
    assert hospital.is_provider and hospital.per_visit_only
    assert hospital.provider_since == NOW


def test_states_refuse_what_is_not_a_hospital_code_or_an_aware_time() -> None:
    with pytest.raises(ValidationError):
        ConsentState.model_validate({"hospitals": ["1067"]})
    with pytest.raises(ValidationError):
        PerVisitConsent.model_validate(
            {"id": "v", "requesting_hospital": "11535", "until": "2026-03-01T05:00:00"}
        )


def test_a_state_event_without_version_or_state_is_rejected() -> None:
    good = ConsentGranted(version=1, state=ConsentState()).envelope(source="t", subject="c")
    assert ConsentGranted.of(good).version == 1
    for data in ({"version": "x", "state": {}}, {"version": 0, "state": {}}, {"state": []}):
        bad = Envelope(source="t", type=ConsentGranted.TYPE, subject="c", data=data)
        with pytest.raises(Rejected):
            ConsentGranted.of(bad)
    unknown = Envelope(source="t", type=event_type("consent.renamed"), subject="c", data={})
    with pytest.raises(Rejected, match="unknown"):
        ConsentGranted.of(unknown)
    with pytest.raises(Rejected):
        HospitalChanged.of(good)
