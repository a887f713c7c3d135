"""The hospital console's keys screen in a real browser (Debian's chromium, ``make
browser``) at a phone's width, on the running consent, ingest, query and portal services:
hospital staff make a signing key pair in the browser (the private key downloaded, only
the public half registered), and an upload signed with the downloaded file through the
adapter (``JwsSigner.from_file``, over Kafka) is stored by ingest; a private key pasted and a kid in
use are refused with clear words; the old key is removed (from the keyboard, in Thai),
and ingest refuses a signature made with it; the admin key is rotated, shown once, and
the staff stay signed in with the new key while the old one is refused. Explicit waits
and polls (services learn keys from consent's events), never sleeps; axe-core on each
new screen in both languages."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path

import pytest
from healthlink_adapter import HttpUploader, JwsSigner, UploadRefused
from healthlink_adapter.contract import HOSPITAL_HEADER, SIGNATURE_HEADER
from joserfc.jwk import ECKey
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from healthlink.synthetic import make_patient_bundle
from shared.settings import Settings
from tests.support import journey
from tests.support.a11y import accessible, checking_time
from tests.support.browser import click, fill, fits_the_phone, only, screenshots, text_in, waiting
from tests.support.credentials import private_jwk, public_key
from tests.support.journey import Actors, Hospital, auth, eventually, uploader

pytestmark = pytest.mark.e2e
# auth: the patient signs in
settings, platform = only(("consent", "ingest", "query", "auth", "portal"))
HOSPITAL, HOSPITAL_NAME = "10684", "Nan Hospital"  # a code no other e2e test registers
BUDGET_S = 60


async def test_hospital_staff_rotate_the_signing_key_and_the_admin_key_in_the_browser(
    actors: Actors, settings: Settings, phone: WebDriver, tmp_path: Path
) -> None:
    hospital = await actors.hospital(HOSPITAL, HOSPITAL_NAME)  # signs with a test key
    old_kid = public_key(HOSPITAL)["kid"]
    patient, token = await actors.patient(random.Random(1684))
    await actors.consent(patient, token, [HOSPITAL])
    roster = actors.url("query", f"/hospitals/{HOSPITAL}/physicians")

    async def query_takes(key: str) -> bool:  # query learns the admin key from its event
        return (await actors.http.get(roster, headers=auth(key))).status_code == 200

    await eventually(lambda: query_takes(hospital.admin_key), what="query to take the key")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    phone.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    url = actors.platform.url("portal") + "/hospital/keys"
    shots = screenshots(tmp_path)
    started, checking = time.monotonic(), checking_time()

    kid = await asyncio.to_thread(make_a_key, phone, url, hospital.admin_key, old_kid, shots)
    made = await eventually(lambda: _downloaded(downloads), what="the private key file")
    # the file is the adapter's: a private JWK whose kid is its RFC 7638 thumbprint
    signer = JwsSigner.from_file(made)
    assert signer.kid == kid == ECKey.import_key(json.loads(made.read_text())).thumbprint()
    assert not kid.startswith("-")
    r = await actors.http.get(actors.url("consent", f"/hospitals/{HOSPITAL}"))
    registered = {k["kid"]: k for k in r.json()["signing_keys"]}
    assert set(registered) == {old_kid, kid} and "d" not in registered[kid]
    await _ingest_takes(actors, signer, accepted=True)  # ingest learns it from the event
    bundle = make_patient_bundle(
        random.Random(1685), cid=patient, hospital_code=HOSPITAL, n_resources=4,
        sensitive_fraction=0.0,
    )  # fmt: skip
    async with uploader(settings, Hospital(HOSPITAL, hospital.admin_key, signer)) as kafka:
        receipt = await kafka.send(bundle)  # over Kafka: HTTP would want auth's token too
    async with HttpUploader(actors.platform.url("ingest"), HOSPITAL, signer) as uploads:

        async def stored() -> dict[str, object] | None:
            try:
                status, task = await uploads.receipt(receipt)
            except UploadRefused as refused:  # 404 until the consumer has seen it
                assert refused.status == 404, refused.diagnostics
                return None
            return task if status == 200 else None

        task = await eventually(stored, what="the upload signed with the browser's key")
    assert task["status"] == "completed", task

    await asyncio.to_thread(remove_the_old_key, phone, old_kid, kid, shots)
    await _ingest_takes(actors, hospital.signer, accepted=False)  # the old key: refused
    new_key = await asyncio.to_thread(rotate_the_admin_key, phone, shots)
    journey.ADMIN_KEYS[HOSPITAL] = new_key
    elapsed = time.monotonic() - started - (checking_time() - checking)  # axe's time aside
    print(f"\nhospital keys browser journey: {elapsed:.1f}s")  # reported with -s
    assert elapsed < BUDGET_S, f"the browser journey took {elapsed:.1f}s"
    assert await query_takes(new_key)
    assert (await actors.http.get(roster, headers=auth(hospital.admin_key))).status_code == 401


def _saved(folder: Path) -> Path | None:
    """The key file chromium saved (a partial download is ``*.crdownload`` until done)."""
    done = [p for p in folder.glob("*.jwk") if p.stat().st_size > 0]
    return done[0] if done else None


async def _downloaded(folder: Path) -> Path | None:
    return await asyncio.to_thread(_saved, folder)


async def _ingest_takes(actors: Actors, signer: JwsSigner, *, accepted: bool) -> None:
    """Poll ingest's signed receipt probe until it takes (404: no such upload) or refuses
    (401) a signature made with ``signer``."""
    receipt = "up-key-check"

    async def answered() -> bool:
        headers = {HOSPITAL_HEADER: HOSPITAL, SIGNATURE_HEADER: signer.sign(receipt.encode())}
        r = await actors.http.get(actors.url("ingest", f"/fhir/uploads/{receipt}"), headers=headers)
        return (r.status_code == 404) if accepted else (r.status_code == 401)

    what = f"ingest to {'take' if accepted else 'refuse'} the key {signer.kid}"
    await eventually(answered, what=what)


def make_a_key(driver: WebDriver, url: str, key: str, old_kid: str, shots: Path) -> str:
    wait = waiting(driver)
    driver.get(url)  # the keys screen's address: sign-in first, then that screen
    fill(driver, "code", HOSPITAL)
    fill(driver, "key", key)
    driver.find_element(By.ID, "key").send_keys(Keys.ENTER)
    text_in(wait, "#keys-title", "Keys")
    assert driver.current_url.endswith("/hospital/keys")
    text_in(wait, f'#key-list li[data-kid="{old_kid}"] .kid', old_kid)
    text_in(wait, "#generate-intro", "never goes to Health Link")
    fits_the_phone(driver)
    accessible(driver, "the keys screen (English)")

    # a private key pasted is refused on the page (never sent); a kid in use by consent
    fill(driver, "jwk", json.dumps(private_jwk(HOSPITAL)))
    click(driver, "#paste-submit")
    text_in(wait, "#paste-error", "That is a private key")
    assert driver.find_element(By.ID, "jwk").get_attribute("value") == ""
    clash = {**public_key("10670"), "kid": old_kid}  # another key under the kid in use
    fill(driver, "jwk", json.dumps(clash))
    click(driver, "#paste-submit")
    text_in(wait, "#paste-error", "Another key is already registered under that kid")
    fill(driver, "jwk", "")

    # a key pair made in the browser: the private key saved, the public half registered
    click(driver, "#generate")
    text_in(wait, "#generate-done", "Health Link never had it")
    assert not driver.find_element(By.ID, "paste-error").is_displayed()
    cards = driver.find_elements(By.CSS_SELECTOR, "#key-list li")
    kid = next(
        str(c.get_attribute("data-kid")) for c in cards if c.get_attribute("data-kid") != old_kid
    )
    assert kid in driver.find_element(By.ID, "generate-done").text
    assert driver.find_element(By.ID, "save-again").is_displayed()
    fits_the_phone(driver)
    driver.save_screenshot(str(shots / "hospital-keys-en.png"))
    accessible(driver, "a key pair made in the browser (English)")
    return kid


def remove_the_old_key(driver: WebDriver, old_kid: str, kid: str, shots: Path) -> None:
    wait = waiting(driver)
    click(driver, "#lang-th")
    text_in(wait, "#keys-title", "กุญแจและรหัส")
    fits_the_phone(driver)  # a kid is one long word: it wraps
    card = f'#key-list li[data-kid="{old_kid}"]'
    click(driver, card + " button.remove")
    text_in(wait, card + " .confirm-text", "ข้อมูลที่ลงลายมือชื่อด้วยกุญแจนี้จะถูกพักไว้")
    assert driver.switch_to.active_element.get_attribute("id") == "confirm-remove"
    accessible(driver, "removing a key, asked to confirm (Thai)")
    driver.switch_to.active_element.send_keys(Keys.ENTER)  # confirmed from the keyboard
    text_in(wait, "#keys-done", f"นำกุญแจ {old_kid} ออกแล้ว")
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, card))
    # the last key: the warning says every upload would be set aside; cancelled
    click(driver, f'#key-list li[data-kid="{kid}"] button.remove')
    text_in(wait, "#confirm-remove-text", "กุญแจลงลายมือชื่อสุดท้าย")
    click(driver, "#cancel-remove")
    assert not driver.find_elements(By.ID, "confirm-remove")


def rotate_the_admin_key(driver: WebDriver, shots: Path) -> str:
    wait = waiting(driver)
    click(driver, "#rotate")
    text_in(wait, "#rotate-question", "ใช้ไม่ได้ทันที")
    assert driver.switch_to.active_element.get_attribute("id") == "rotate-yes"
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    text_in(wait, "#new-key-warning", "แสดงเพียงครั้งเดียว")
    field = driver.find_element(By.ID, "new-key-value")
    new_key = str(field.get_attribute("value"))
    assert len(new_key) >= 32 and driver.switch_to.active_element == field
    fits_the_phone(driver)
    driver.save_screenshot(str(shots / "hospital-admin-key-th.png"))
    accessible(driver, "the new admin key, shown once (Thai)")
    click(driver, "#hide-key")
    assert not driver.find_element(By.ID, "new-admin-key").is_displayed()
    assert new_key not in driver.page_source

    # still signed in, now with the new key: the roster and the keys load
    click(driver, "#tab-physicians")
    text_in(wait, "#physicians-title", "รายชื่อแพทย์ของโรงพยาบาล")
    text_in(wait, "#roster-none", "ยังไม่มีแพทย์ในรายชื่อ")
    click(driver, "#tab-keys")
    text_in(wait, "#key-list li .kid", "กุญแจ")
    assert not driver.find_element(By.ID, "keys-error").is_displayed()
    driver.refresh()  # a reload keeps the session (with the new key)
    text_in(wait, "#keys-title", "กุญแจและรหัส")
    text_in(wait, "#key-list li .kid", "กุญแจ")
    return new_key
