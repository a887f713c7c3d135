"""Patients sign in from the wallet: CID → one-time code to their phone → a device
session → face scan (the consent service's verification) → their own token.

Without the code sent to the patient's phone nobody reaches the face scan, so a
stranger who knows a CID cannot use up the patient's daily scan attempts. Codes are
stored hashed, live ``auth_otp_ttl_s``, allow ``auth_otp_max_attempts`` guesses
(attempt slots, like the PIN lockout), and a CID gets at most that many codes sent
per window (no flooding a phone).
"""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime

from services.auth.domain import Interaction, Subject, Window, digest, in_future, is_cid, new_otp
from services.auth.errors import (
    BadRequest,
    OtpExhausted,
    OtpExpired,
    OtpWrong,
    PatientNotRegistered,
    ScanFailed,
    ScanRefused,
    Throttled,
)
from services.auth.handlers import Deps, publish
from services.auth.verifier import OK, REFUSED
from shared.events import PatientSignedIn, PatientSignInFailed

SEND_SCOPE = "otp-send"
GUESS_SCOPE = "otp"
SCAN_MAX_CHARS = 100_000


async def send_code(deps: Deps, interaction: Interaction, address: str, cid: str) -> None:
    """Send a one-time code to the phone on file for ``cid``."""
    if not deps.throttle.allow("otp", address):
        raise Throttled("too many requests from here; wait a minute")
    if not is_cid(cid):
        raise BadRequest("a CID is 13 digits with a valid check digit")
    if not await deps.patients.is_registered(cid):
        raise PatientNotRegistered("register in the wallet app first")
    now = deps.now()
    settings = deps.settings
    window = Window.at(now, settings.auth_failure_window_s)
    if await deps.attempts.reserve(SEND_SCOPE, cid, window, settings.auth_otp_max_attempts) is None:
        raise OtpExhausted("too many codes sent to this phone; try again later")
    code = new_otp()
    interaction.otp = {
        "cid": cid,
        "digest": digest(f"{interaction.id}:{code}"),
        "expires_at": in_future(now, settings.auth_otp_ttl_s).isoformat(),
        "id": uuid.uuid4().hex,
    }
    interaction.step = "otp"
    await deps.interactions.put(interaction)
    await deps.otp.send(cid, code)


async def check_code(deps: Deps, interaction: Interaction, code: str) -> None:
    """The code from the phone opens a device session; then the face scan."""
    otp = interaction.otp
    if interaction.step != "otp" or not otp:
        raise BadRequest("ask for a code first")
    now = deps.now()
    cid = str(otp["cid"])
    if now >= datetime.fromisoformat(str(otp["expires_at"])):
        await _failed(deps, cid, "otp-expired")
        raise OtpExpired("the code has expired; ask for a new one")
    window = Window(0, deps.settings.auth_otp_ttl_s)
    limit = deps.settings.auth_otp_max_attempts
    slot = await deps.attempts.reserve(GUESS_SCOPE, str(otp["id"]), window, limit)
    if slot is None:
        await _failed(deps, cid, "otp-exhausted")
        raise OtpExhausted("too many wrong codes; ask for a new one")
    expected = digest(f"{interaction.id}:{code.strip()}")
    if not hmac.compare_digest(expected, str(otp["digest"])):
        await _failed(deps, cid, "otp-wrong")
        raise OtpWrong(f"the code is wrong; {limit - slot - 1} tries left")
    interaction.otp = {}
    interaction.session = uuid.uuid4().hex
    interaction.subject = Subject(kind="patient", ident=cid, patient=cid)
    interaction.step = "scan"
    await deps.interactions.put(interaction)


async def check_scan(deps: Deps, interaction: Interaction, scan: str) -> Subject:
    """The face scan inside the device session: the consent service decides."""
    subject = interaction.subject
    if interaction.step != "scan" or subject is None or interaction.session is None:
        raise BadRequest("confirm the code from your phone first")
    if not scan or len(scan) > SCAN_MAX_CHARS:
        raise BadRequest("no face scan received")
    outcome = await deps.scans.verify(subject.ident, scan, interaction.session)
    if outcome == REFUSED:
        await _failed(deps, subject.ident, "scan-refused")
        raise ScanRefused(
            "ขออภัยค่ะ ท่านระบุข้อมูลไม่ถูกต้องเกิน 5 ครั้ง กรุณาทำรายการใหม่อีกครั้งในวันถัดไป / "
            "Sorry, you entered incorrect data more than 5 times. Please try again tomorrow."
        )
    if outcome != OK:
        await _failed(deps, subject.ident, "scan-failed")
        raise ScanFailed("the face scan did not match; try again")
    now = deps.now()
    signed_in = PatientSignedIn(
        patient=subject.ident,
        client_id=interaction.client_id,
        session=interaction.session,
        time=now,
    )
    await publish(deps, signed_in, subject.ident)
    return Subject(
        kind="patient",
        ident=subject.ident,
        patient=subject.ident,
        auth_time=int(now.timestamp()),
        session=interaction.session,
    )


async def _failed(deps: Deps, cid: str, reason: str) -> None:
    await publish(deps, PatientSignInFailed(patient=cid, reason=reason, time=deps.now()), cid)
