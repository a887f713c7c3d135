"""Patient notification texts in Thai and English; times are shown in Asia/Bangkok."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

BANGKOK = ZoneInfo("Asia/Bangkok")

REFUSED_TH = "ขออภัยค่ะ ท่านระบุข้อมูลไม่ถูกต้องเกิน 5 ครั้ง กรุณาทำรายการใหม่อีกครั้งในวันถัดไป"
REFUSED_EN = "You entered incorrect data more than 5 times. Please try again tomorrow."

# Health Link data categories (services.ingest.categories.Category values): (Thai, English).
CATEGORY_LABELS: Mapping[str, tuple[str, str]] = {
    "allergy": ("ข้อมูลการแพ้", "allergies"),
    "diagnosis": ("ผลการวินิจฉัยโรค", "diagnoses"),
    "medication": ("รายการยา", "medications"),
    "vaccine": ("ประวัติการรับวัคซีน", "vaccinations"),
    "procedure": ("หัตถการ", "procedures"),
    "lab_value": ("ผลตรวจทางห้องปฏิบัติการ", "lab results"),
    "report": ("รายงานผลการตรวจ", "reports"),
    "encounter": ("ประวัติการเข้ารับบริการ", "visits"),
    "sensitive": ("ข้อมูลอ่อนไหว", "sensitive information"),
}

_THAI_MONTHS = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
    "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.",
)  # fmt: skip
_ENGLISH_MONTHS = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip

Outcome = Literal["success", "failure", "refused"]  # of an identity verification


@dataclass(frozen=True)
class Text:
    """A notification's title and body in Thai and English."""

    title_th: str
    body_th: str
    title_en: str
    body_en: str


def _local(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    return at.astimezone(BANGKOK)


def when_th(at: datetime) -> str:
    """Thai date and time in Bangkok, Buddhist Era, e.g. ``15 ก.พ. 2569 เวลา 12:00 น.``."""
    t = _local(at)
    return f"{t.day} {_THAI_MONTHS[t.month - 1]} {t.year + 543} เวลา {t:%H:%M} น."


def when_en(at: datetime) -> str:
    """English date and time in Bangkok, e.g. ``15 Feb 2026, 12:00 (Bangkok time)``."""
    t = _local(at)
    return f"{t.day} {_ENGLISH_MONTHS[t.month - 1]} {t.year}, {t:%H:%M} (Bangkok time)"


def _join_th(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " และ " + items[-1]


def _join_en(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _ordered(codes: Iterable[str]) -> list[str]:
    """Distinct category codes: known ones in canonical order, then others alphabetically."""
    known = list(CATEGORY_LABELS)
    distinct = set(codes)
    return [c for c in known if c in distinct] + sorted(distinct - set(known))


def _label(code: str) -> tuple[str, str]:
    return CATEGORY_LABELS.get(code, (code, code))


def record_accessed(
    physician_name: str, hospital_name: str, categories: Iterable[str], at: datetime
) -> Text:
    """A physician viewed the patient's records."""
    codes = _ordered(categories)
    what_th = _join_th([_label(c)[0] for c in codes]) or "ข้อมูลสุขภาพ"
    what_en = _join_en([_label(c)[1] for c in codes]) or "health records"
    return Text(
        title_th="มีการเข้าดูข้อมูลสุขภาพของท่าน",
        body_th=f"{physician_name} จาก {hospital_name} ได้เข้าดู{what_th}ของท่าน เมื่อ {when_th(at)}",
        title_en="Your health records were viewed",
        body_en=f"{physician_name} at {hospital_name} viewed your {what_en} on {when_en(at)}.",
    )


def break_glass(physician_name: str, hospital_name: str, reason: str, at: datetime) -> Text:
    """A physician used emergency (break-glass) access to the patient's records."""
    return Text(
        title_th="มีการเข้าถึงข้อมูลสุขภาพของท่านในกรณีฉุกเฉิน",
        body_th=(
            f"{physician_name} จาก {hospital_name} ได้เข้าถึงข้อมูลสุขภาพของท่านในกรณีฉุกเฉิน"
            f" เมื่อ {when_th(at)} เหตุผล: {reason}"
            " หากท่านไม่ได้รับการรักษาในช่วงเวลาดังกล่าว กรุณาติดต่อ Health Link"
        ),
        title_en="Emergency access to your health records",
        body_en=(
            f"{physician_name} at {hospital_name} accessed your health records in an emergency"
            f" on {when_en(at)}. Reason given: {reason}."
            " If you were not receiving care at that time, please contact Health Link."
        ),
    )


def consent_changed(summary: str) -> Text:
    """The patient's consent settings changed; ``summary`` (shown in both texts) says how."""
    summary = summary.strip().rstrip(".")
    return Text(
        title_th="การให้ความยินยอมของท่านมีการเปลี่ยนแปลง",
        body_th=(
            f"การตั้งค่าความยินยอมของท่านได้รับการปรับปรุงแล้ว: {summary}"
            " หากท่านไม่ได้ทำรายการนี้ กรุณาติดต่อ Health Link ทันที"
        ),
        title_en="Your consent settings changed",
        body_en=(
            f"Your consent settings were updated: {summary}."
            " If you did not make this change, please contact Health Link immediately."
        ),
    )


def verification_result(outcome: Outcome) -> Text:
    """Outcome of an identity verification attempt ("refused": locked until tomorrow)."""
    if outcome == "success":
        return Text(
            title_th="ยืนยันตัวตนสำเร็จ",
            body_th="ท่านยืนยันตัวตนสำเร็จแล้ว สามารถใช้งาน Health Link ได้",
            title_en="Identity verified",
            body_en="Your identity has been verified. You can now use Health Link.",
        )
    if outcome == "failure":
        return Text(
            title_th="ยืนยันตัวตนไม่สำเร็จ",
            body_th="ข้อมูลที่ท่านระบุไม่ถูกต้อง กรุณาตรวจสอบและลองใหม่อีกครั้ง",
            title_en="Identity verification failed",
            body_en="The information you entered is incorrect. Please check it and try again.",
        )
    if outcome == "refused":
        return Text(
            title_th="ไม่สามารถยืนยันตัวตนได้ในวันนี้",
            body_th=REFUSED_TH,
            title_en="Verification unavailable until tomorrow",
            body_en=REFUSED_EN,
        )
    raise ValueError(f"unknown verification outcome: {outcome!r}")


def records_received(hospital_name: str, counts: Mapping[str, int]) -> Text:
    """A hospital sent new records; ``counts`` maps category code to number of records."""
    codes = _ordered(c for c, n in counts.items() if n > 0)
    parts_th = [f"{_label(c)[0]} {counts[c]} รายการ" for c in codes]
    parts_en = [f"{_label(c)[1]}: {counts[c]}" for c in codes]
    body_th = f"{hospital_name} ได้ส่งข้อมูลสุขภาพของท่านเข้าสู่ Health Link"
    body_en = f"{hospital_name} sent your health records to Health Link"
    return Text(
        title_th="มีข้อมูลสุขภาพใหม่ของท่าน",
        body_th=body_th + (f": {_join_th(parts_th)}" if codes else ""),
        title_en="New health records",
        body_en=body_en + (f" ({'; '.join(parts_en)})." if codes else "."),
    )


def hospitals_joined(hospitals: Sequence[str], all_hospitals_consent: bool) -> Text:
    """New hospitals joined; all-hospitals consent includes them, others are invited to add."""
    if not hospitals:
        raise ValueError("no hospitals to announce")
    names_th, names_en = _join_th(list(hospitals)), _join_en(list(hospitals))
    if all_hospitals_consent:
        action_th = "เนื่องจากท่านให้ความยินยอมแก่ทุกโรงพยาบาล โรงพยาบาลเหล่านี้จะเข้าถึงข้อมูลของท่านได้โดยอัตโนมัติ"
        action_en = (
            "Because you consented to share with all hospitals, they are included automatically."
        )
    else:
        action_th = "หากท่านต้องการให้โรงพยาบาลเหล่านี้เข้าถึงข้อมูลของท่าน กรุณาเพิ่มในการตั้งค่าความยินยอม"
        action_en = "To let them see your records, add them in your consent settings."
    return Text(
        title_th="มีโรงพยาบาลเข้าร่วม Health Link เพิ่มเติม",
        body_th=f"โรงพยาบาลที่เข้าร่วมใหม่: {names_th} {action_th}",
        title_en="New hospitals joined Health Link",
        body_en=f"Newly participating hospitals: {names_en}. {action_en}",
    )


def access_digest(views: Sequence[tuple[str, str, datetime]], hour_end: datetime) -> Text:
    """The hour's accesses in one notification: (physician name, hospital name, time)."""
    if not views:
        raise ValueError("no accesses to summarise")
    lines_th = [f"- {who} จาก {where} เมื่อ {when_th(at)}" for who, where, at in views]
    lines_en = [f"- {who} at {where} on {when_en(at)}" for who, where, at in views]
    return Text(
        title_th=f"สรุปการเข้าดูข้อมูลสุขภาพของท่าน ({len(views)} ครั้ง)",
        body_th=f"การเข้าดูข้อมูลของท่านก่อน {when_th(hour_end)}:\n" + "\n".join(lines_th),
        title_en=f"Your health records were viewed ({len(views)} times)",
        body_en=f"Views of your records in the hour before {when_en(hour_end)}:\n"
        + "\n".join(lines_en),
    )


def consent_state(
    all_hospitals: bool, hospital_names: Sequence[str], allow_sensitive: bool, per_visit: int
) -> Text:
    """Confirmation of the patient's consent as it now stands."""
    if all_hospitals:
        who_th, who_en = "ทุกโรงพยาบาลที่เข้าร่วม", "all participating hospitals"
    elif hospital_names:
        who_th, who_en = _join_th(list(hospital_names)), _join_en(list(hospital_names))
    else:
        who_th, who_en = "ไม่มีโรงพยาบาลใด", "no hospital"
    sensitive_th = "รวมข้อมูลอ่อนไหว" if allow_sensitive else "ไม่รวมข้อมูลอ่อนไหว"
    sensitive_en = "including" if allow_sensitive else "excluding"
    visits_th = f" และความยินยอมรายครั้ง {per_visit} รายการ" if per_visit else ""
    visits_en = f", plus {per_visit} per-visit consent(s)" if per_visit else ""
    return Text(
        title_th="การให้ความยินยอมของท่านมีการเปลี่ยนแปลง",
        body_th=(
            f"ขณะนี้ท่านให้ความยินยอมแก่ {who_th} ({sensitive_th}){visits_th}"
            " หากท่านไม่ได้ทำรายการนี้ กรุณาติดต่อ Health Link ทันที"
        ),
        title_en="Your consent settings changed",
        body_en=(
            f"You now share your records with {who_en} ({sensitive_en} sensitive data)"
            f"{visits_en}. If you did not make this change, please contact Health Link"
            " immediately."
        ),
    )
