"""The operator view in a real browser (Debian's chromium, ``make browser``) at a phone's
width, on the running consent, ingest, query, audit, auth and portal services (notify is
left stopped: the status screen says it does not answer). A named operator (``healthlink
operators add``) signs in with their token — from the keyboard only —, adds a hospital,
suspends, reinstates and promotes it, sees a hospital's signing keys and removes one
(from the keyboard), sends again an upload set aside for want of
consent, reads the services' readiness and verifies the audit log; a named auditor sees
the same and is refused a change (the consent service's 403, said on the page). Every
screen passes axe-core's WCAG 2.1 A/AA checks, in English and Thai. The audit log then
holds the operator's actions under their name. Explicit waits."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from healthlink.synthetic import make_patient_bundle
from shared.settings import Settings
from tests.support.a11y import accessible, checking_time
from tests.support.browser import (
    click,
    fill,
    fits_the_phone,
    only,
    screenshots,
    settled,
    text_in,
    waiting,
)
from tests.support.cli import healthlink
from tests.support.journey import Actors, auth, eventually, uploader
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e
settings, platform = only(("consent", "ingest", "query", "audit", "auth", "portal"))
SENDER, SENDER_NAME = "10683", "Lerdsin Hospital"  # its upload is set aside
BUDGET_S = 120


async def people(platform: Platform, settings: Settings) -> dict[str, str]:
    """A named operator and a named auditor at the auth service, and a token of each."""
    run = uuid.uuid4().hex[:6]
    env = {
        "HEALTHLINK_AUTH_ISSUER": platform.url("auth"),
        "HEALTHLINK_DATA_DIR": str(platform.log_dir),
    }
    tokens = {}
    for role in ("operator", "auditor"):
        name = f"{role[:2]}-{run}"
        added = await healthlink(settings, "operators", "add", name, "--role", role, env=env)
        assert added.exit_code == 0, added.stderr
        token = await healthlink(settings, "operators", "token", name, env=env)
        assert token.exit_code == 0, token.stderr
        tokens[role], tokens[role + "-name"] = token.stdout.strip(), name
    return tokens


async def test_an_operator_and_an_auditor_use_the_operator_view(
    actors: Actors, platform: Platform, settings: Settings, phone: WebDriver, tmp_path: Path
) -> None:
    rng = random.Random(1519)
    code = f"{rng.randint(17000, 17999)}"  # this test's own range
    hospital = await actors.hospital(SENDER, SENDER_NAME)
    patient, _ = await actors.patient(rng)  # has not consented to SENDER: set aside
    bundle = make_patient_bundle(
        rng, cid=patient, hospital_code=SENDER, n_resources=4, sensitive_fraction=0.0
    )
    async with uploader(settings, hospital) as adapter:
        await adapter.send(bundle)

    async def set_aside() -> str | None:
        r = await actors.http.get(
            actors.url("ingest", f"/hospitals/{SENDER}/deadletters"),
            headers=auth(hospital.admin_key),
        )
        pending = [e["id"] for e in r.json()["entries"] if e["status"] == "pending"]
        return pending[0] if pending else None

    letter = await eventually(set_aside, what="the upload set aside")
    tokens = await people(platform, settings)
    # a second signing key of the sender's, which the operator removes on the page
    kid = f"spare-{uuid.uuid4().hex[:8]}"
    spare = ECKey.generate_key("P-256").as_dict(private=False)
    r = await actors.http.post(
        actors.url("consent", f"/hospitals/{SENDER}/signing-keys"),
        headers=auth(tokens["operator"]),
        json={**spare, "kid": kid, "alg": "ES256", "use": "sig"},
    )
    assert r.status_code == 201, r.text
    url = actors.platform.url("portal") + "/operator/"
    shots = screenshots(tmp_path)
    started, checking = time.monotonic(), checking_time()
    await asyncio.to_thread(operate, phone, url, tokens["operator"], code, letter, shots, kid)
    await asyncio.to_thread(audit_only, phone, code, tokens["auditor"], shots)
    elapsed = time.monotonic() - started - (checking_time() - checking)  # axe's time aside
    print(f"\noperator view browser journey: {elapsed:.1f}s")  # reported with -s
    assert elapsed < BUDGET_S, f"the browser journey took {elapsed:.1f}s"

    r = await actors.http.get(actors.url("consent", f"/hospitals/{code}"))
    assert (r.json()["role"], r.json()["active"]) == (
        "provider",
        True,
    )  # the auditor changed nothing
    reader = {"authorization": f"Bearer {tokens['auditor']}"}
    wanted = {"hospital.added", "hospital.suspended", "hospital.reinstated", "hospital.promoted",
              "deadletter.retried", "hospital.signing_key_removed"}  # fmt: skip
    r = await actors.http.get(actors.url("consent", f"/hospitals/{SENDER}"))
    kids = [k["kid"] for k in r.json()["signing_keys"]]
    assert kid not in kids and kids, (
        f"the spare key removed, the sender's own kept: {kids}; removals in the audit log: "
        f"{await removals(actors, reader)}"
    )

    async def recorded() -> set[str] | None:
        found: set[str] = set()
        for offset in range(0, 5000, 200):  # the session's security log, a page at a time
            r = await actors.http.get(
                actors.url("audit", "/audit/records"),
                params={"kind": "security", "count": 200, "offset": offset},
                headers=reader,
            )
            assert r.status_code == 200, r.text
            entries = r.json()["entries"]
            found |= {
                e["body"]["data"]["action"]
                for e in entries
                if e["type"] == "operator.acted"
                and e["body"]["data"]["operator"] == tokens["operator-name"]
            }
            if len(entries) < 200:
                break
        return found if wanted <= found else None

    await eventually(recorded, timeout_s=60, what="the operator's actions in the audit log")


async def removals(actors: Actors, reader: dict[str, str]) -> list[Any]:
    """Who removed which signing key, in the audit log (said when the check fails)."""
    r = await actors.http.get(
        actors.url("audit", "/audit/records"),
        params={"kind": "security", "count": 200},
        headers=reader,
    )
    return [
        (e.get("time"), e["body"]["data"])
        for e in r.json().get("entries", [])
        if e["type"] == "operator.acted"
        and e["body"]["data"]["action"] == "hospital.signing_key_removed"
    ]


def keys(driver: WebDriver, *sequence: str) -> None:
    """Typed on whatever has the focus, as a keyboard would."""
    for key in sequence:
        driver.switch_to.active_element.send_keys(key)


def operate(
    driver: WebDriver, url: str, token: str, code: str, letter: str, shots: Path, kid: str
) -> None:
    wait = waiting(driver)
    driver.get(url)
    text_in(wait, "#signin-title", "Operator sign-in")
    settled(driver)
    fits_the_phone(driver)
    accessible(driver, "the operator sign-in (English)")

    # the keyboard only: Tab from the top of the page to the token, type it, Enter
    driver.find_element(By.TAG_NAME, "body").click()
    for _ in range(8):
        if driver.switch_to.active_element.get_attribute("id") == "token":
            break
        keys(driver, Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("id") == "token"
    keys(driver, "not-a-token", Keys.ENTER)
    text_in(wait, "#signin-error", "Paste the whole token")
    keys(driver, token, Keys.ENTER)
    text_in(wait, "#who-text", "(operator)")
    assert token not in driver.page_source
    assert "hl_operator" not in str(driver.execute_script("return document.cookie"))
    assert driver.current_url.endswith("/operator/hospitals")
    text_in(wait, f'#hospital-list li[data-code="{SENDER}"]', SENDER_NAME)
    assert driver.find_element(By.ID, "readonly").is_displayed() is False
    settled(driver)
    accessible(driver, "the hospitals screen (English)")

    # the sender's signing keys; the spare one removed from the keyboard
    sender_keys = f'#hospital-list li[data-code="{SENDER}"] .signing-keys'
    text_in(wait, sender_keys + f' li[data-kid="{kid}"]', "ES256")
    remove = driver.find_element(By.CSS_SELECTOR, sender_keys + f' li[data-kid="{kid}"] button')
    assert kid in str(remove.get_attribute("aria-label"))
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus()", remove
    )
    keys(driver, Keys.ENTER)  # a question first, its yes focused; then Enter again
    text_in(wait, sender_keys + f' li[data-kid="{kid}"] .confirm-text', "set aside")
    assert driver.switch_to.active_element.get_attribute("id") == "confirm-remove"
    keys(driver, Keys.ENTER)
    text_in(wait, "#hospitals-done", f"Signing key {kid} of {SENDER_NAME} ({SENDER}) was removed")
    assert not driver.find_elements(By.CSS_SELECTOR, sender_keys + f' li[data-kid="{kid}"]')
    driver.find_element(By.ID, "new-code").click()  # back where the next step starts

    # add a hospital from the keyboard: the code field has the focus after sign-in
    assert driver.switch_to.active_element.get_attribute("id") == "new-code"
    keys(driver, code, Keys.TAB, "Operator View Hospital", Keys.TAB, Keys.TAB, Keys.TAB, Keys.ENTER)
    text_in(wait, "#hospitals-done", f"Operator View Hospital ({code}) was added.")
    card = f'#hospital-list li[data-code="{code}"]'
    text_in(wait, card + " .status", "Active")
    click(driver, card + " button.suspend")
    text_in(wait, card + " .status", "Suspended")
    text_in(wait, "#hospitals-done", "kafka-revoke")
    click(driver, card + " button.reinstate")
    text_in(wait, card + " .status", "Active")
    click(driver, card + " button.promote")
    text_in(wait, card + " .facts", "Provider")
    assert not driver.find_elements(By.CSS_SELECTOR, card + " button.promote")
    accessible(driver, "the hospitals screen after changes")

    # Thai; the dead letters of ingest, a page at a time, until this upload's
    click(driver, "#lang-th")
    text_in(wait, "#hospitals-title", "โรงพยาบาลที่เข้าร่วม")
    accessible(driver, "the hospitals screen (Thai)")
    click(driver, "#tab-letters")
    settled(driver)
    item = f'#letter-list li[data-id="{letter}"]'
    while not driver.find_elements(By.CSS_SELECTOR, item):
        assert driver.find_element(By.ID, "letters-more").is_displayed(), "the letter is not listed"
        click(driver, "#letters-more")
        settled(driver)
    text_in(wait, item + " .reason", "ไม่มีความยินยอม")
    fits_the_phone(driver)
    accessible(driver, "the dead letters (Thai)")
    driver.save_screenshot(str(shots / "operator-letters-th.png"))
    click(driver, item + " button.retry")
    text_in(wait, "#letters-done", "ผ่าน ingest")
    text_in(wait, item + " .status:last-child", "ส่งอีกครั้งเมื่อ")

    # health: readiness (notify is not running), the audit log verified
    click(driver, "#tab-status")
    text_in(wait, '#service-list li[data-service="consent"] .status', "พร้อม")
    text_in(wait, '#service-list li[data-service="notify"] .status', "ไม่ตอบสนอง")
    text_in(wait, '#service-list li[data-service="consent"] code', "healthlink replay consent")
    click(driver, "#audit-verify")
    text_in(wait, "#audit-result", "สมบูรณ์")
    verdict = driver.find_element(By.ID, "audit-result").text
    assert "object" not in verdict and "undefined" not in verdict, verdict
    fits_the_phone(driver)
    accessible(driver, "the health screen (Thai)")
    driver.save_screenshot(str(shots / "operator-status-th.png"))
    click(driver, "#sign-out")
    text_in(wait, "#signin-title", "ผู้ดูแลระบบเข้าสู่ระบบ")


def audit_only(driver: WebDriver, code: str, token: str, shots: Path) -> None:
    """An auditor sees everything, and a change is the service's 403, said clearly."""
    wait = waiting(driver)
    fill(driver, "token", token)
    click(driver, "#signin-submit")
    text_in(wait, "#who-text", "ผู้ตรวจสอบ")
    text_in(wait, "#readonly", "ผู้ตรวจสอบ")
    assert driver.current_url.endswith("/operator/status")  # where the operator left
    click(driver, "#lang-en")
    click(driver, "#tab-hospitals")
    card = f'#hospital-list li[data-code="{code}"]'
    text_in(wait, card + " .status", "Active")
    click(driver, card + " button.suspend")
    text_in(wait, "#hospitals-error", "Refused (403)")
    text_in(wait, card + " .status", "Active")
    accessible(driver, "the hospitals screen of an auditor, refused")
    driver.save_screenshot(str(shots / "operator-auditor-en.png"))
    click(driver, "#tab-letters")
    settled(driver)
    accessible(driver, "the dead letters of an auditor")
