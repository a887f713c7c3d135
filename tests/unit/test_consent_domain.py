"""The consent rules, pure: CID, age in Bangkok time, standing and per-visit consent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.consent import domain
from services.consent.domain import (
    ConsentState,
    PerVisitConsent,
    VisitNotFound,
    check_adult,
    check_cid,
    check_hcode,
    check_visit_end,
)
from shared.cid import cid_check_digit
from shared.errors import InvalidInput

pytestmark = pytest.mark.unit
NOW = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)


def test_a_cid_needs_its_mod_11_check_digit() -> None:
    first12 = "110170012345"
    good = first12 + str(cid_check_digit(first12))
    assert check_cid(good) == good
    bad = first12 + str((cid_check_digit(first12) + 1) % 10)
    for cid in (bad, good[:12], good + "0", "a" * 13, "0" + good[1:]):
        with pytest.raises(InvalidInput):
            check_cid(cid)


def test_a_hospital_code_is_five_digits() -> None:
    assert check_hcode("10670") == "10670"
    for code in ("1067", "106700", "1067a", ""):
        with pytest.raises(InvalidInput):
            check_hcode(code)


def test_the_18th_birthday_counts_in_bangkok_time() -> None:
    birth = date(2008, 3, 2)
    # 2026-03-01 17:00 UTC is already 2 March 00:00 in Bangkok: the 18th birthday.
    check_adult(birth, datetime(2026, 3, 1, 17, 0, tzinfo=UTC))
    # One minute earlier it is still 1 March in Bangkok: 17 years old.
    with pytest.raises(InvalidInput, match="18 or older"):
        check_adult(birth, datetime(2026, 3, 1, 16, 59, tzinfo=UTC))


def test_a_birth_date_in_the_future_is_refused() -> None:
    with pytest.raises(InvalidInput, match="future"):
        check_adult(date(2027, 1, 1), NOW)


def test_a_visit_end_must_be_in_the_future_and_aware() -> None:
    assert check_visit_end(NOW + timedelta(hours=2), NOW) == NOW + timedelta(hours=2)
    for until in (NOW, NOW - timedelta(seconds=1), NOW + timedelta(days=91)):
        with pytest.raises(InvalidInput):
            check_visit_end(until, NOW)
    with pytest.raises(InvalidInput, match="time zone"):
        check_visit_end(datetime(2026, 3, 2), NOW)


def test_standing_consent_grant_revoke_and_all_hospitals() -> None:
    state = domain.revoke(domain.grant(ConsentState(), {"10670", "13781"}), {"13781"})
    assert state.hospitals == ("10670",)
    assert state.senders(NOW, ["10670", "13781"]) == {"10670"}
    everything = domain.grant_all(state)
    assert everything.senders(NOW, ["10670", "13781", "99999"]) == {"10670", "13781", "99999"}
    assert domain.revoke_all_hospitals(everything).hospitals == ("10670",)
    assert not domain.revoke_standing(everything).senders(NOW, ["10670"])


def visit(until: datetime, vid: str = "v1") -> PerVisitConsent:
    return PerVisitConsent(id=vid, requesting_hospital="11535", sources=("10670",), until=until)


def test_per_visit_consent_is_live_until_its_end_then_expires() -> None:
    end = NOW + timedelta(hours=1)
    state = domain.add_visit(ConsentState(), visit(end))
    assert state.senders(NOW, ["10670"]) == {"10670"}
    assert state.next_expiry() == end
    assert domain.expired(state, end - timedelta(microseconds=1)) == []
    assert domain.expired(state, end) == ["v1"]
    assert state.senders(end, ["10670"]) == set()
    assert domain.drop_expired(state, end).per_visit == ()


def test_revocation_of_a_visit_and_of_everything() -> None:
    state = domain.add_visit(ConsentState(hospitals=("13781",)), visit(NOW + timedelta(hours=1)))
    revoked = domain.revoke_visit(state, "v1")
    assert revoked.per_visit[0].revoked and not revoked.senders(NOW, ["10670"])
    with pytest.raises(VisitNotFound):
        domain.revoke_visit(state, "nope")
    nothing = domain.revoke_all(domain.with_sensitive(state, True))
    assert nothing.senders(NOW, ["10670", "13781"]) == set()
    assert nothing.allow_sensitive


def test_state_round_trips_through_its_document() -> None:
    state = ConsentState(
        all_hospitals=True, hospitals=("10670",), allow_sensitive=True, per_visit=(visit(NOW),)
    )
    doc = state.model_dump(mode="json")
    assert ConsentState.model_validate(doc) == state
    assert doc["per_visit"][0]["until"] == "2026-03-01T05:00:00+00:00"


def test_hospital_codes_are_kept_sorted_and_once() -> None:
    state = domain.grant(ConsentState(), {"13781", "10670"})
    assert domain.grant(state, {"10670"}) == state
    assert state.hospitals == ("10670", "13781")


def test_the_expiry_day_is_the_utc_day_a_visit_ends_on() -> None:
    bangkok_morning = datetime.fromisoformat("2026-03-02T06:30:00+07:00")  # 1 March in UTC
    assert domain.expiry_day(bangkok_morning) == "2026-03-01"
    assert domain.expiry_day(datetime(2026, 3, 2, 0, 0)) == "2026-03-02"  # naive: UTC
    assert domain.expiry_day(None) is None


def test_the_sweep_reads_each_day_from_where_it_left_off_to_today() -> None:
    assert domain.sweep_days(None, NOW) == ["2026-03-01"]
    assert domain.sweep_days("2026-02-27", NOW) == [
        "2026-02-27",
        "2026-02-28",
        "2026-03-01",
    ]
    assert domain.sweep_days("2026-03-01", NOW) == ["2026-03-01"]
    assert domain.sweep_days("2026-03-05", NOW) == ["2026-03-01"]  # a clock set back
