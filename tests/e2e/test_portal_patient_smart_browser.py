"""The patient portal's SMART sign-in and "my record" in a real browser (Debian's
chromium, ``make browser``) at a phone's width, on the running consent, ingest, query,
auth and portal services: a patient whose hospital sent records signs in through the
auth service's page (CID, the code written to the development sender's file, the face
scan), sees the record grouped by type, in English and Thai, downloads it as a FHIR
Bundle (every page of ``$everything``), and reaches consent, who viewed my record and
the inbox with the same session (consent, audit and notify take its token); a
sign-in cancelled at the auth service comes back with its code. Each screen passes
axe-core's WCAG 2.1 A/AA checks. Explicit waits only."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
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
    send_code,
    settled,
    submit,
    text_in,
    waiting,
)
from tests.support.journey import Actors, uploader

pytestmark = pytest.mark.e2e
LICENCE, PIN = "40773", "8644"
SOURCE, SOURCE_NAME = "10664", "Police General Hospital"  # a code no other e2e test registers
BUDGET_S = 60
N_RESOURCES = 12
# consent, audit and notify take the patient's SMART token; ingest and query the record
NEEDED = ("consent", "ingest", "query", "audit", "notify", "auth", "portal")
DEV_SCAN = "dev-face-scan-ok"


settings, platform = only(NEEDED)


async def test_a_patient_signs_in_with_smart_sees_and_downloads_their_record(
    actors: Actors, settings: Settings, phone: WebDriver, tmp_path: Path
) -> None:
    rng = random.Random(2626)  # a seed of its own: the platform is shared, a CID is registered once
    source = await actors.hospital(SOURCE, SOURCE_NAME)
    cid, token = await actors.patient(rng)
    await actors.consent(cid, token, [source.code])
    doctor = await actors.physician(source, LICENCE, PIN)
    async with uploader(settings, source) as adapter:
        bundle = make_patient_bundle(
            rng, cid=cid, hospital_code=source.code, n_resources=N_RESOURCES, sensitive_fraction=0.0
        )
        await adapter.send(bundle)
    await actors.records(doctor, cid, at_least=N_RESOURCES)  # the chart is merged: go
    otp = actors.platform.log_dir / "otp" / f"{cid}.txt"
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    phone.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    url = actors.platform.url("portal")
    shots = screenshots(tmp_path)
    started, checking = time.monotonic(), checking_time()
    await asyncio.to_thread(sign_in_and_read, phone, url, cid, otp, downloads, shots)
    elapsed = time.monotonic() - started - (checking_time() - checking)
    print(f"\npatient SMART browser journey: {elapsed:.1f}s")  # reported with -s
    assert elapsed < BUDGET_S, f"the browser journey took {elapsed:.1f}s"


def sign_in_and_read(
    driver: WebDriver, url: str, cid: str, otp: Path, downloads: Path, shots: Path
) -> None:
    wait = waiting(driver)
    driver.get(url + "/patient/")
    text_in(wait, "#signin-title", "Sign in")
    assert driver.execute_script("return innerWidth") == 390
    fits_the_phone(driver)
    accessible(driver, "the patient portal's sign-in (English)")

    # cancelled at the auth service: back with the code, told in the page's language
    click(driver, "#signin-start")
    text_in(wait, "h2#patient", "Patients")
    submit(driver, "/authorize/cancel")
    text_in(wait, "#signin-error", "The sign-in was cancelled.")
    assert driver.current_url == url + "/patient/", driver.current_url

    # the patient's sign-in: CID → the code to the phone → the face scan → back here
    click(driver, "#signin-start")
    text_in(wait, "h2#patient", "Patients")
    driver.save_screenshot(str(shots / "patient-signin-auth-en.png"))
    accessible(driver, "the auth service's sign-in page from the patient portal")
    code = send_code(driver, cid, otp)
    fill(driver, "code", code)
    submit(driver, "/authorize/patient/session")
    wait.until(lambda d: d.find_elements(By.ID, "scan"))
    fill(driver, "scan", DEV_SCAN)
    submit(driver, "/authorize/patient/scan")
    text_in(wait, "#who-text", cid)
    assert driver.current_url.startswith(url + "/patient/"), driver.current_url
    assert "hl_patient" not in str(driver.execute_script("return document.cookie"))
    text_in(wait, "#consent-title", "My consent")  # consent takes the SMART token

    # my record: grouped by type, each a card; keyboard: the tab is a link
    tab = driver.find_element(By.ID, "tab-record")
    tab.send_keys("\n")
    text_in(wait, "#record-summary", "items.")
    groups = driver.find_elements(By.CSS_SELECTOR, "#record-groups .group")
    types = [g.get_attribute("data-type") for g in groups]
    assert types and "Patient" not in types, types
    assert driver.find_elements(By.CSS_SELECTOR, "#record-groups .card")
    fits_the_phone(driver)
    driver.save_screenshot(str(shots / "patient-record-en.png"))
    accessible(driver, "my record (English)")

    # the export: a FHIR Bundle of the whole record, downloaded (keyboard: Enter)
    driver.find_element(By.ID, "record-export").send_keys("\n")
    text_in(wait, "#record-exported", "downloaded")
    saved = downloads / "health-link-record.json"
    wait.until(lambda _: saved.exists() and saved.stat().st_size > 0)
    exported = json.loads(saved.read_text())
    assert exported["resourceType"] == "Bundle" and exported["type"] == "collection"
    kinds = {e["resource"]["resourceType"] for e in exported["entry"]}
    assert "Patient" in kinds and len(exported["entry"]) > N_RESOURCES // 2, kinds

    # audit and notify take the same token: who viewed my record (the physician's
    # reads above, once audit has them) and the inbox, still signed in
    click(driver, "#tab-accesses")
    settled(driver)
    assert not driver.find_element(By.ID, "accesses-error").is_displayed()
    assert driver.find_element(By.ID, "who-text").is_displayed()
    click(driver, "#tab-inbox")
    settled(driver)
    assert not driver.find_element(By.ID, "inbox-error").is_displayed()
    click(driver, "#tab-record")
    text_in(wait, "#record-summary", "items.")

    # Thai
    click(driver, "#lang-th")
    text_in(wait, "#record-title", "ข้อมูลสุขภาพของฉัน")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "th"
    fits_the_phone(driver)
    driver.save_screenshot(str(shots / "patient-record-th.png"))
    accessible(driver, "my record (Thai)")

    click(driver, "#sign-out")
    text_in(wait, "#signin-title", "เข้าสู่ระบบ")
    assert driver.switch_to.active_element.get_attribute("id") == "signin-start"
    driver.save_screenshot(str(shots / "patient-signin-th.png"))  # "Sign in with Health Link"
