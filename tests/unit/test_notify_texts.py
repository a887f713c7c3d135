"""Thai and English notification texts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from services.notify import texts
from services.notify.texts import Text

pytestmark = pytest.mark.unit

AT = datetime(2026, 2, 15, 5, 0, tzinfo=UTC)  # 12:00 in Bangkok


def all_fields(text: Text) -> list[str]:
    return [text.title_th, text.body_th, text.title_en, text.body_en]


def test_text_is_frozen() -> None:
    text = texts.consent_state(True, [], False, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        text.title_en = "changed"  # type: ignore[misc]


def test_times_are_shown_in_bangkok() -> None:
    assert texts.when_th(AT) == "15 ก.พ. 2569 เวลา 12:00 น."
    assert texts.when_en(AT) == "15 Feb 2026, 12:00 (Bangkok time)"
    # 20:30 UTC on 31 Dec is already New Year in Bangkok.
    late = datetime(2026, 12, 31, 20, 30, tzinfo=UTC)
    assert texts.when_en(late) == "1 Jan 2027, 03:30 (Bangkok time)"
    assert texts.when_th(late) == "1 ม.ค. 2570 เวลา 03:30 น."


def test_naive_time_raises() -> None:
    with pytest.raises(ValueError):
        texts.record_accessed("Dr A", "Hospital B", [], datetime(2026, 1, 1))


def test_record_accessed() -> None:
    text = texts.record_accessed(
        "นพ. สมชาย ใจดี", "โรงพยาบาลศิริราช", ["lab_value", "medication", "lab_value"], AT
    )
    assert "นพ. สมชาย ใจดี" in text.body_th
    assert "โรงพยาบาลศิริราช" in text.body_th
    assert "รายการยา และ ผลตรวจทางห้องปฏิบัติการ" in text.body_th
    assert "15 ก.พ. 2569 เวลา 12:00 น." in text.body_th
    assert text.body_en == (
        "นพ. สมชาย ใจดี at โรงพยาบาลศิริราช viewed your medications and lab results"
        " on 15 Feb 2026, 12:00 (Bangkok time)."
    )
    assert text.title_en == "Your health records were viewed"


def test_record_accessed_without_categories_and_unknown_codes() -> None:
    none = texts.record_accessed("Dr A", "Hospital B", [], AT)
    assert "viewed your health records on" in none.body_en
    assert "ข้อมูลสุขภาพ" in none.body_th
    odd = texts.record_accessed("Dr A", "Hospital B", ["zeta", "allergy"], AT)
    assert "viewed your allergies and zeta on" in odd.body_en


def test_break_glass() -> None:
    text = texts.break_glass("Dr A", "Hospital B", "unconscious patient in ER", AT)
    assert "ฉุกเฉิน" in text.title_th
    assert "unconscious patient in ER" in text.body_th
    assert "unconscious patient in ER" in text.body_en
    assert "emergency" in text.body_en
    assert "15 Feb 2026, 12:00 (Bangkok time)" in text.body_en
    assert "เวลา 12:00 น." in text.body_th


def test_verification_refused_uses_the_faq_message() -> None:
    text = texts.verification_result("refused")
    faq_th = "ขออภัยค่ะ ท่านระบุข้อมูลไม่ถูกต้องเกิน 5 ครั้ง กรุณาทำรายการใหม่อีกครั้งในวันถัดไป"
    faq_en = "You entered incorrect data more than 5 times. Please try again tomorrow."
    assert (text.body_th, text.body_en) == (faq_th, faq_en)


def test_verification_success_and_failure_differ() -> None:
    success, failure = texts.verification_result("success"), texts.verification_result("failure")
    assert success != failure
    assert "สำเร็จ" in success.title_th and "ไม่สำเร็จ" in failure.title_th
    assert "verified" in success.body_en
    assert texts.REFUSED_TH not in all_fields(failure)


def test_verification_unknown_outcome_raises() -> None:
    outcome: Any = "maybe"
    with pytest.raises(ValueError):
        texts.verification_result(outcome)


def test_records_received_lists_counts_in_category_order() -> None:
    text = texts.records_received(
        "Hospital B", {"lab_value": 12, "medication": 3, "vaccine": 0, "custom": 1}
    )
    assert text.body_en == (
        "Hospital B sent your health records to Health Link"
        " (medications: 3; lab results: 12; custom: 1)."
    )
    assert "รายการยา 3 รายการ" in text.body_th
    assert "ผลตรวจทางห้องปฏิบัติการ 12 รายการ" in text.body_th
    assert "วัคซีน" not in text.body_th


def test_records_received_without_counts() -> None:
    text = texts.records_received("Hospital B", {})
    assert text.body_en == "Hospital B sent your health records to Health Link."


def test_hospitals_joined_with_all_hospitals_consent() -> None:
    text = texts.hospitals_joined(["Hospital A", "Hospital B", "Hospital C"], True)
    assert "Hospital A, Hospital B and Hospital C" in text.body_en
    assert "included automatically" in text.body_en
    assert "Hospital A, Hospital B และ Hospital C" in text.body_th
    assert "โดยอัตโนมัติ" in text.body_th
    assert "add them" not in text.body_en


def test_hospitals_joined_without_all_hospitals_consent_invites() -> None:
    text = texts.hospitals_joined(["Hospital A"], False)
    assert "Newly participating hospitals: Hospital A." in text.body_en
    assert "add them in your consent settings" in text.body_en
    assert "กรุณาเพิ่ม" in text.body_th
    assert "automatically" not in text.body_en


def test_hospitals_joined_requires_hospitals() -> None:
    with pytest.raises(ValueError):
        texts.hospitals_joined([], True)


def test_every_text_has_all_four_fields() -> None:
    made = [
        texts.record_accessed("Dr A", "Hospital B", ["report"], AT),
        texts.break_glass("Dr A", "Hospital B", "reason", AT),
        texts.consent_state(False, ["Hospital A"], True, 2),
        texts.verification_result("success"),
        texts.verification_result("failure"),
        texts.verification_result("refused"),
        texts.records_received("Hospital B", {"encounter": 1}),
        texts.hospitals_joined(["Hospital A"], False),
    ]
    for text in made:
        assert all(field.strip() for field in all_fields(text))


def test_access_digest_lists_every_view() -> None:
    text = texts.access_digest([("Dr A", "Hospital B", AT), ("Dr C", "Hospital D", AT)], AT)
    assert "(2 times)" in text.title_en and "2 ครั้ง" in text.title_th
    assert "Dr A at Hospital B" in text.body_en and "Dr C จาก Hospital D" in text.body_th
    with pytest.raises(ValueError):
        texts.access_digest([], AT)


def test_consent_state_confirms_what_is_shared() -> None:
    every = texts.consent_state(True, [], False, 0)
    assert "all participating hospitals" in every.body_en and "excluding" in every.body_en
    some = texts.consent_state(False, ["Hospital A", "Hospital B"], True, 1)
    assert "Hospital A and Hospital B" in some.body_en and "1 per-visit" in some.body_en
    assert "Hospital A และ Hospital B" in some.body_th
    assert "no hospital" in texts.consent_state(False, [], False, 0).body_en
