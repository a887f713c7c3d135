"""The sign-in pages behind ``/authorize``: server-rendered HTML (no script needed), in
Thai and English, with labels, ``lang`` attributes and an ``role="alert"`` message.

Jinja2 escapes everything it inserts. Each form carries the interaction's id and its
CSRF token; the language switch is a form button too, so no secret rides in a URL.
"""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment, select_autoescape

LANGS = ("th", "en")

TEXTS: dict[str, dict[str, str]] = {
    "th": {
        "title": "เข้าสู่ระบบ Health Link",
        "for_app": "แอปที่ขอเข้าถึง",
        "physician": "สำหรับแพทย์",
        "licence": "เลขที่ใบอนุญาตประกอบวิชาชีพเวชกรรม",
        "pin": "รหัส PIN",
        "hospital": "รหัสโรงพยาบาล (5 หลัก) ที่ท่านปฏิบัติงานในนามของ",
        "sign_in": "เข้าสู่ระบบ",
        "patient": "สำหรับผู้ป่วย",
        "cid": "เลขประจำตัวประชาชน 13 หลัก",
        "send_code": "ส่งรหัสยืนยันไปยังโทรศัพท์ของฉัน",
        "code": "รหัสยืนยัน 6 หลักที่ได้รับทางโทรศัพท์",
        "code_sent": "ส่งรหัสยืนยันไปยังโทรศัพท์ที่ลงทะเบียนไว้แล้ว",
        "confirm": "ยืนยัน",
        "scan": "ผลการสแกนใบหน้าจากแอป",
        "scan_hint": "แอปกระเป๋าสุขภาพจะกรอกช่องนี้ให้หลังสแกนใบหน้า",
        "verify": "ยืนยันตัวตน",
        "pick": "เลือกผู้ป่วย",
        "pick_hint": "ระบุเลขประจำตัวประชาชนของผู้ป่วยที่ต้องการดูข้อมูล",
        "signed_in_as": "เข้าสู่ระบบแล้ว",
        "continue": "ดำเนินการต่อ",
        "cancel": "ยกเลิก",
        "other_lang": "English",
        "error": "ไม่สามารถดำเนินการได้",
    },
    "en": {
        "title": "Sign in to Health Link",
        "for_app": "The app asking for access",
        "physician": "Physicians",
        "licence": "Medical licence number",
        "pin": "PIN",
        "hospital": "Hospital code (5 digits) you act for",
        "sign_in": "Sign in",
        "patient": "Patients",
        "cid": "13-digit national ID (CID)",
        "send_code": "Send a code to my phone",
        "code": "6-digit code from your phone",
        "code_sent": "A code was sent to the phone on file.",
        "confirm": "Confirm",
        "scan": "Face scan result from the app",
        "scan_hint": "The wallet app fills this in after the face scan.",
        "verify": "Verify my identity",
        "pick": "Choose the patient",
        "pick_hint": "The national ID of the patient whose record you open",
        "signed_in_as": "Signed in as",
        "continue": "Continue",
        "cancel": "Cancel",
        "other_lang": "ภาษาไทย",
        "error": "That did not work",
    },
}

_BASE = """<!doctype html>
<html lang="{{ lang }}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t.title }}</title>
<style>
body{font-family:system-ui,"Noto Sans Thai",sans-serif;max-width:34rem;margin:2rem auto;
  padding:0 1rem;line-height:1.5}
label{display:block;margin-top:.8rem;font-weight:600}
input,textarea{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}
section{border:1px solid #888;border-radius:.4rem;padding:1rem;margin:1rem 0}
[role=alert]{border:2px solid #b00020;padding:.6rem;color:#b00020}
</style></head>
<body><main>
<h1>{{ t.title }}</h1>
{% if app %}<p>{{ t.for_app }}: <strong>{{ app }}</strong></p>{% endif %}
{% if message %}<div role="alert"><strong>{{ t.error }}:</strong> {{ message }}</div>{% endif %}
{% block body %}{% endblock %}
{% if i %}{% from "macros" import hidden with context %}
<form method="post" action="/authorize/language">{{ hidden() }}
<button name="lang" value="{{ other }}" lang="{{ other }}">{{ t.other_lang }}</button></form>
<form method="post" action="/authorize/cancel">{{ hidden() }}<button>{{ t.cancel }}</button></form>
{% endif %}
</main></body></html>
"""

_MACROS = """{% macro hidden() %}<input type="hidden" name="interaction" value="{{ i.id }}">
<input type="hidden" name="csrf" value="{{ i.csrf }}">
<input type="hidden" name="lang" value="{{ lang }}">{% endmacro %}"""

_SIGN_IN = """{% extends "base" %}{% block body %}{% from "macros" import hidden with context %}
<section aria-labelledby="physician"><h2 id="physician">{{ t.physician }}</h2>
<form method="post" action="/authorize/physician">{{ hidden() }}
<label for="licence">{{ t.licence }}</label>
<input id="licence" name="licence" inputmode="numeric" autocomplete="username" required
 value="{{ licence }}">
<label for="pin">{{ t.pin }}</label>
<input id="pin" name="pin" type="password" autocomplete="current-password" required>
<label for="hospital">{{ t.hospital }}</label>
<input id="hospital" name="hospital" inputmode="numeric" required value="{{ hospital }}">
<button>{{ t.sign_in }}</button></form></section>
<section aria-labelledby="patient"><h2 id="patient">{{ t.patient }}</h2>
<form method="post" action="/authorize/patient/code">{{ hidden() }}
<label for="cid">{{ t.cid }}</label>
<input id="cid" name="cid" inputmode="numeric" autocomplete="off" required>
<button>{{ t.send_code }}</button></form></section>
{% endblock %}"""

_PICK = """{% extends "base" %}{% block body %}{% from "macros" import hidden with context %}
<p>{{ t.signed_in_as }}: {{ who }}</p>
<form method="post" action="/authorize/launch">{{ hidden() }}
<label for="cid">{{ t.pick }}</label><p id="cid-hint">{{ t.pick_hint }}</p>
<input id="cid" name="cid" inputmode="numeric" aria-describedby="cid-hint" required>
<button>{{ t.continue }}</button></form>
{% endblock %}"""

_OTP = """{% extends "base" %}{% block body %}{% from "macros" import hidden with context %}
<p role="status">{{ t.code_sent }}</p>
<form method="post" action="/authorize/patient/session">{{ hidden() }}
<label for="code">{{ t.code }}</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required>
<button>{{ t.confirm }}</button></form>
{% endblock %}"""

_SCAN = """{% extends "base" %}{% block body %}{% from "macros" import hidden with context %}
<form method="post" action="/authorize/patient/scan">{{ hidden() }}
<label for="scan">{{ t.scan }}</label><p id="scan-hint">{{ t.scan_hint }}</p>
<textarea id="scan" name="scan" rows="3" aria-describedby="scan-hint" required></textarea>
<button>{{ t.verify }}</button></form>
{% endblock %}"""

_ERROR = """{% extends "base" %}{% block body %}{% endblock %}"""

STEPS = {"sign-in": "sign_in", "patient": "pick", "otp": "otp", "scan": "scan"}
_env = Environment(
    loader=DictLoader(
        {
            "base": _BASE,
            "macros": _MACROS,
            "sign_in": _SIGN_IN,
            "pick": _PICK,
            "otp": _OTP,
            "scan": _SCAN,
            "error": _ERROR,
        }
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def language(chosen: str | None, accept: str | None) -> str:
    """The form's choice, else the browser's first preference, else Thai."""
    if chosen in LANGS:
        return str(chosen)
    first = (accept or "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "th"


def render(template: str, lang: str, **context: Any) -> str:
    other = "en" if lang == "th" else "th"
    page = _env.get_template(template)
    return page.render(lang=lang, other=other, t=TEXTS[lang], **context)


def step_page(step: str) -> str:
    return STEPS.get(step, "sign_in")
