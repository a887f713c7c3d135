"""The physician's viewer in a real browser (Debian's chromium, ``make browser``) on the
running platform: sign in through SMART on FHIR on the auth service's page (a wrong PIN
first), look up a consented patient and see the record, switch to Thai, see a refusal
for a patient without consent, open a chart of 1,000 records (its first meaningful
render timed in the page and printed, not asserted), sign out, then start a sign-in in
Thai and cancel it. Source hospitals are shown by name and code; the limits the
patient's consent puts on the read (chosen hospitals, no sensitive data; break-glass)
are said with what the patient can do;
each screen (the auth service's sign-in page as reached from the viewer, in English and
Thai, among them) passes axe-core's WCAG 2.1 A/AA checks (tests/support/a11y.py).
Explicit waits only."""

from __future__ import annotations

import asyncio
import copy
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from healthlink.synthetic import make_patient_bundle
from shared.settings import Settings
from tests.support.a11y import accessible, checking_time
from tests.support.browser import (
    fill,
    fits_the_phone,
    only,
    screenshots,
    submit,
    text_in,
    visible,
    waiting,
)
from tests.support.journey import Actors, uploader

pytestmark = pytest.mark.e2e
LICENCE, PIN = "40771", "8642"
BUDGET_S = 60
CHART_RECORDS = 1000  # the large chart: the Patient and 999 clinical records
# The lookup clicked, then the record's title, total and grouped tables (allergies first)
# drawn, then two animation frames (the browser has painted): performance.now() in the
# page, so the figure is the page's alone, not the driver's round trips.
TIME_CHART = """
const cid = arguments[0];
const groups = document.getElementById('groups');
window.__chart = null;
const t0 = performance.now();
const seen = new MutationObserver(() => {
  const title = document.getElementById('record-title').textContent;
  if (!groups.querySelector('.group') || !title.includes(cid)) return;
  seen.disconnect();
  const drawn = performance.now() - t0;
  requestAnimationFrame(() => requestAnimationFrame(() => {
    const rows = groups.querySelectorAll('tr').length;
    const asked = performance.getEntriesByType('resource').filter(
      (e) => e.name.includes('/api/patients/' + cid) && e.startTime >= t0);
    const fetched = asked.length ? asked[asked.length - 1].responseEnd - t0 : -1;
    window.__chart = { drawn, painted: performance.now() - t0, fetched, rows };
  }));
});
seen.observe(groups, { childList: true });
document.getElementById('lookup-submit').click();
"""
# The services this journey needs (the portal signs in at auth and reads through query;
# consent and ingest make the patient, the consent and the records): fewer processes on
# a shared machine.
NEEDED = ("consent", "ingest", "query", "auth", "portal")
SOURCE = "Rajavithi Hospital (10676)"  # a source hospital as the viewer names it
# what query says of a read under a consent of one hospital, sensitive data not shared
CONSENT_LIMITS = ["chosen-hospitals", "sensitive-not-shared"]
GLUCOSE = ("2345-7", "Glucose [Mass/volume] in Serum or Plasma")
GLUCOSE_VALUES = (("2025-01-10", 112), ("2025-05-12", 96), ("2025-09-15", 131))


def with_glucose_series(bundle: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The bundle with three glucose values (mg/dL, range 70–99) on three dates: one lab
    test over time, for the trend chart."""
    entries = bundle["entry"]
    model = next(e for e in entries if e["resource"]["resourceType"] == "Observation")
    for day, value in GLUCOSE_VALUES:
        entry = copy.deepcopy(model)
        rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        obs = entry["resource"]
        obs["id"] = rid
        obs["code"] = {"coding": [{"system": "http://loinc.org", "code": GLUCOSE[0],
                                   "display": GLUCOSE[1]}]}  # fmt: skip
        obs["effectiveDateTime"] = obs["issued"] = f"{day}T09:00:00+07:00"
        obs["valueQuantity"] = {"value": value, "unit": "mg/dL",
                                "system": "http://unitsofmeasure.org", "code": "mg/dL"}  # fmt: skip
        obs["referenceRange"] = [{"low": {"value": 70, "unit": "mg/dL"},
                                  "high": {"value": 99, "unit": "mg/dL"}}]  # fmt: skip
        obs.pop("interpretation", None)
        entry["fullUrl"] = f"urn:uuid:{rid}"
        entry["request"] = {"method": "PUT", "url": f"Observation/{rid}"}
        entries.append(entry)
    return bundle


# Only the services the journey needs; the auth service's access tokens live 31 s, so
# the viewer renews its token with the refresh token (renewal is due 30 s before the
# end) before every read after the first second: the refusal in Thai, say.
settings, platform = only(NEEDED, HEALTHLINK_AUTH_ACCESS_TTL_S="31")


async def test_a_physician_signs_in_reads_a_record_in_english_and_thai_and_sees_a_refusal(
    actors: Actors, settings: Settings, browser: WebDriver, tmp_path: Path
) -> None:
    rng = random.Random(1507)
    source = await actors.hospital("10676", "Rajavithi Hospital")
    reader = await actors.hospital("11539", "Chulabhorn Hospital", role="consumer")
    consented, token = await actors.patient(rng)
    await actors.consent(consented, token, [source.code])
    refused, _ = await actors.patient(rng)
    # consented only to a per-visit read by another hospital: refused here, read under
    # break-glass (which widens to what the patient lets send: docs/query.md)
    await actors.hospital("11541", "Lerdsin Hospital", role="consumer")
    emergency, emergency_token = await actors.patient(rng)
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = await actors.http.post(
        actors.url("consent", f"/patients/{emergency}/consent/visits"),
        headers={"authorization": f"Bearer {emergency_token}"},
        json={"requesting_hospital": "11541", "sources": [source.code], "until": until},
    )
    assert r.status_code == 201, r.text
    large, large_token = await actors.patient(rng)
    await actors.consent(large, large_token, [source.code])
    doctor = await actors.physician(reader, LICENCE, PIN)  # query's own roster (phase 2a)
    await actors.smart_physician(reader, LICENCE, PIN)  # the auth service's
    async with uploader(settings, source) as adapter:
        for cid in (emergency, consented, refused):
            bundle = make_patient_bundle(
                rng, cid=cid, hospital_code=source.code, n_resources=12, sensitive_fraction=0.0
            )
            await adapter.send(with_glucose_series(bundle, rng) if cid == consented else bundle)
        chart = make_patient_bundle(
            rng,
            cid=large,
            hospital_code=source.code,
            n_resources=CHART_RECORDS,
            sensitive_fraction=0.0,
        )
        await adapter.send(chart)
    await actors.records(
        doctor, consented, at_least=12 + len(GLUCOSE_VALUES)
    )  # the charts are merged: go
    await actors.records(doctor, large, at_least=CHART_RECORDS)

    url = actors.platform.url("portal")
    shots = screenshots(tmp_path)
    auth_url = actors.platform.url("auth")
    elapsed, chart = await asyncio.to_thread(
        browse,
        browser,
        (url, auth_url),
        reader.code,
        (consented, refused, large, emergency),
        shots,
    )
    print(f"\nportal browser journey: {elapsed:.1f}s")  # reported with -s
    # measured, never asserted (the goal: under 1 s on this machine)
    print(
        f"physician chart of {CHART_RECORDS} records: first meaningful render (painted) "
        f"{chart['painted']:.0f} ms (answer in {chart['fetched']:.0f} ms, tables built "
        f"{chart['drawn']:.0f} ms, {chart['rows']} rows)"
    )
    assert elapsed < BUDGET_S, f"the browser journey took {elapsed:.1f}s"


def browse(
    driver: WebDriver,
    urls: tuple[str, str],
    hospital: str,
    patients: tuple[str, str, str, str],
    shots: Path,
) -> tuple[float, dict[str, float]]:
    """The journey in the browser; returns its duration in seconds and the large chart's
    timings (ms). Screenshots of each screen go to ``shots``
    (``HEALTHLINK_PORTAL_SCREENSHOTS``, else the test's tmp dir)."""
    url, auth_url = urls
    consented, refused, large, emergency = patients
    started, checking = time.monotonic(), checking_time()
    wait = waiting(driver)
    driver.get(url)
    # English from the browser's Accept-Language
    text_in(wait, "#signin-title", "Physician sign-in")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"

    # "Sign in" goes to the auth service's page (SMART: code + PKCE), in English
    driver.find_element(By.ID, "signin-start").click()
    text_in(wait, "h1", "Sign in to Health Link")
    assert driver.current_url.startswith(auth_url + "/authorize?"), driver.current_url
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    accessible(driver, "the auth service's sign-in page from the viewer (English)")

    # a wrong PIN is told as such there, and nothing is signed in
    fill(driver, "licence", LICENCE)
    fill(driver, "pin", "0000")
    fill(driver, "hospital", hospital)
    submit(driver, "/authorize/physician")
    text_in(wait, "[role=alert]", "licence number or PIN is wrong")
    driver.save_screenshot(str(shots / "signin-wrong-pin-en.png"))
    accessible(driver, "the auth service's sign-in page with an error (English)")

    fill(driver, "licence", LICENCE)
    fill(driver, "pin", PIN)
    fill(driver, "hospital", hospital)
    submit(driver, "/authorize/physician")
    text_in(wait, "#who-text", f"Licence {LICENCE}")
    assert driver.current_url == url + "/", driver.current_url
    text_in(wait, "#who-text", f"Chulabhorn Hospital ({hospital})")  # the names, loaded once
    assert not driver.find_element(By.ID, "signin").is_displayed()
    assert "hl_session" not in str(driver.execute_script("return document.cookie"))
    assert driver.switch_to.active_element.get_attribute("id") == "cid"

    # a CID with a wrong check digit is refused on the page
    fill(driver, "cid", consented[:12] + str((int(consented[12]) + 1) % 10))
    driver.find_element(By.ID, "lookup-submit").click()
    text_in(wait, "#lookup-error", "not a valid national ID number")

    # the consented patient's record, grouped by type, each item with its source hospital
    fill(driver, "cid", consented)
    driver.find_element(By.ID, "lookup-submit").click()
    text_in(wait, "#record-title", consented)
    visible(wait, "#groups .group")
    groups = driver.find_elements(By.CSS_SELECTOR, "#groups .group")
    types = [g.get_attribute("data-type") for g in groups]
    assert "Encounter" in types and "Patient" not in types, types
    headings = [g.find_element(By.TAG_NAME, "h3").text for g in groups]
    assert any(h.startswith("Visits (") for h in headings), headings
    cells = driver.find_elements(By.CSS_SELECTOR, "#groups td:last-child")
    assert cells and all(c.text == SOURCE for c in cells)
    assert limits_said(driver) == CONSENT_LIMITS
    notice = driver.find_element(By.ID, "record-limits").text
    assert "What this record may leave out" in notice and "allow sensitive data" in notice
    assert "allow all hospitals" in notice and "never says whether" in notice, notice
    banner_trend_and_overview(driver)
    trend_shot(driver, shots / "record-trend-en.png")
    driver.save_screenshot(str(shots / "record-en.png"))
    accessible(driver, "the record (English)")
    on_the_phone(driver, shots / "record-phone-en.png")

    # Thai: every label from the Thai catalogue, dates in the Buddhist era
    driver.find_element(By.ID, "lang-th").click()
    text_in(wait, "#lookup-title", "ค้นหาผู้ป่วย")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "th"
    headings = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "#groups .group h3")]
    assert any(h.startswith("ข้อมูลการเข้ารับบริการ (") for h in headings), headings
    text_in(wait, "#sign-out", "ออกจากระบบ")
    dates = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#groups td:first-child")]
    assert any(" 25" in d for d in dates), dates  # พ.ศ. 25xx
    text_in(wait, "#allergy-title", "ข้อมูลการแพ้ยา")
    text_in(wait, "#limits-title", "ข้อมูลที่อาจไม่แสดงในประวัตินี้")
    assert "ข้อมูลที่มีความอ่อนไหว" in driver.find_element(By.ID, "record-limits").text
    text_in(wait, "#trend-caption", "2568")  # the glucose values of 2025, Buddhist era
    trend_shot(driver, shots / "record-trend-th.png")
    driver.save_screenshot(str(shots / "record-th.png"))
    accessible(driver, "the record (Thai)")

    # a patient without consent: the refusal and what the patient can do, in Thai
    fill(driver, "cid", refused)
    driver.find_element(By.ID, "lookup-submit").click()
    text_in(wait, "#refusal", "ผู้ป่วยยังไม่ได้ให้ความยินยอม")
    assert driver.find_element(By.ID, "refusal").get_attribute("data-reason") == "no-consent"
    assert not driver.find_elements(By.CSS_SELECTOR, "#groups .group")
    assert not driver.find_element(By.ID, "record-limits").is_displayed()  # the refusal says why
    driver.save_screenshot(str(shots / "refusal-th.png"))
    accessible(driver, "a refusal (Thai)")
    break_glass(driver, emergency, shots)

    # the chart of 1,000 records: timed in the page from the click to its drawing
    fill(driver, "cid", large)
    driver.execute_script(TIME_CHART, large)
    chart: dict[str, float] = wait.until(lambda d: d.execute_script("return window.__chart"))
    assert chart["rows"] >= CHART_RECORDS, chart  # 999 records and the tables' heads
    driver.save_screenshot(str(shots / "record-large-th.png"))
    accessible(driver, "a chart of 1,000 records (Thai)")

    # the language is remembered across a reload; sign-out ends the session
    driver.refresh()
    text_in(wait, "#lookup-title", "ค้นหาผู้ป่วย")
    driver.find_element(By.ID, "sign-out").click()
    text_in(wait, "#signin-title", "แพทย์เข้าสู่ระบบ")
    assert not driver.find_element(By.ID, "lookup").is_displayed()

    # a sign-in started in Thai: the auth service's page in Thai; cancelled, the viewer
    # says so in Thai
    driver.find_element(By.ID, "signin-start").click()
    text_in(wait, "h2#physician", "สำหรับแพทย์")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "th"
    driver.save_screenshot(str(shots / "signin-auth-th.png"))
    accessible(driver, "the auth service's sign-in page from the viewer (Thai)")
    submit(driver, "/authorize/cancel")
    text_in(wait, "#signin-error", "ยกเลิกการเข้าสู่ระบบแล้ว")
    assert driver.current_url == url + "/", driver.current_url
    assert not driver.find_element(By.ID, "lookup").is_displayed()
    journey = time.monotonic() - started - (checking_time() - checking)  # the journey alone
    return journey, chart


def banner_trend_and_overview(driver: WebDriver) -> None:
    """The drug-allergy banner on top of the record and in view once scrolled (sticky);
    the glucose trend chosen, drawn (with its reference band) and given as a table; the
    counts by category and hospital; the visits, newest first."""
    wait = waiting(driver)
    banner = driver.find_element(By.ID, "allergy-banner")
    assert banner.is_displayed()
    items = banner.find_elements(By.CSS_SELECTOR, "#allergy-list li")
    assert items and all(f"from {SOURCE}" in i.text for i in items), [i.text for i in items]
    assert "reaction:" in items[0].text, items[0].text
    tops = driver.execute_script(
        "return ['allergy-banner', 'groups', 'trend', 'overview'].map("
        "(id) => document.getElementById(id).getBoundingClientRect().top)"
    )
    assert tops[0] < min(tops[1:]), tops
    driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    top = driver.execute_script(
        "return document.getElementById('allergy-banner').getBoundingClientRect().top"
    )
    assert abs(top) < 2, f"the banner scrolled away: top {top}"
    driver.execute_script("window.scrollTo(0, 0)")

    options = [
        o.get_attribute("value")
        for o in driver.find_elements(By.CSS_SELECTOR, "#trend-code option")
    ]
    assert GLUCOSE[0] in options, options
    Select(driver.find_element(By.ID, "trend-code")).select_by_value(GLUCOSE[0])
    text_in(wait, "#trend-caption", "LOINC 2345-7")
    caption = driver.find_element(By.ID, "trend-caption").text
    assert "mg/dL" in caption and "70–99" in caption, caption
    chart = driver.find_element(By.CSS_SELECTOR, "#trend-chart svg")
    assert chart.get_attribute("aria-labelledby") == "trend-caption"
    assert len(chart.find_elements(By.CSS_SELECTOR, "circle")) >= len(GLUCOSE_VALUES)
    assert chart.find_elements(By.CSS_SELECTOR, "rect.band")
    values = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#trend-table td:nth-child(2)")]
    ours = [f"{v} mg/dL" for _, v in reversed(GLUCOSE_VALUES)]  # latest first
    assert [v for v in values if v in ours] == ours, values  # (the generator may add one)
    cells = driver.find_elements(By.CSS_SELECTOR, "#trend-table td:nth-child(4)")
    assert {c.text for c in cells} == {SOURCE}, [c.text for c in cells]

    counts = driver.find_element(By.ID, "by-hospital").text
    assert SOURCE in counts, counts
    assert "Drug allergies" in driver.find_element(By.ID, "by-type").text
    visits = driver.find_elements(By.CSS_SELECTOR, "#visit-list li")
    encounters = driver.find_elements(By.CSS_SELECTOR, "#groups .group[data-type=Encounter] tr")
    assert len(visits) == len(encounters) - 1 and f"at {SOURCE}" in visits[0].text


def limits_said(driver: WebDriver) -> list[str]:
    """The limits the record's notice shows (their codes), once it is in view."""
    visible(waiting(driver), "#record-limits li")
    items = driver.find_elements(By.CSS_SELECTOR, "#limits-list li")
    return [str(i.get_attribute("data-limit")) for i in items]


def trend_shot(driver: WebDriver, shot: Path) -> None:
    """A screenshot of the trend under the sticky allergy banner."""
    driver.execute_script("document.getElementById('trend').scrollIntoView({block: 'center'})")
    driver.save_screenshot(str(shot))
    driver.execute_script("window.scrollTo(0, 0)")


def on_the_phone(driver: WebDriver, shot: Path) -> None:
    """The record on a phone-sized window: nothing wider than the screen, and the
    banner still in view once scrolled."""
    size = driver.get_window_size()
    driver.set_window_size(390, 844)
    try:
        waiting(driver).until(lambda d: d.execute_script("return innerWidth") <= 400)
        fits_the_phone(driver)
        driver.execute_script("window.scrollTo(0, document.body.scrollHeight / 2)")
        top = driver.execute_script(
            "return document.getElementById('allergy-banner').getBoundingClientRect().top"
        )
        assert abs(top) < 2, f"the banner scrolled away on the phone: top {top}"
        driver.save_screenshot(str(shot))
        driver.execute_script("window.scrollTo(0, 0)")
    finally:
        driver.set_window_size(size["width"], size["height"])


def break_glass(driver: WebDriver, emergency: str, shots: Path) -> None:
    """A refused patient (no consent for this hospital): break-glass offered, a reason
    too short refused on the page, then declared (audited, the patient told) and the
    record read again, in Thai."""
    wait = waiting(driver)
    fill(driver, "cid", emergency)
    driver.find_element(By.ID, "lookup-submit").click()
    text_in(wait, "#record-title", emergency)
    visible(wait, "#glass-form")
    assert "ผู้ป่วยจะได้รับแจ้ง" in driver.find_element(By.ID, "glass-form").text
    fill(driver, "glass-reason", "urgent")
    driver.find_element(By.ID, "glass-submit").click()
    text_in(wait, "#glass-error", "10 ถึง 1,000")
    fill(driver, "glass-reason", "Unconscious in the emergency room; allergies needed")
    driver.find_element(By.ID, "glass-submit").click()
    visible(wait, "#groups .group")
    text_in(wait, "#glass-active", "ผู้ป่วยจะได้รับแจ้ง")
    assert not driver.find_element(By.ID, "refusal").is_displayed()
    assert driver.find_element(By.ID, "allergy-banner").is_displayed()
    # the limits now: break-glass (until when) and the hospitals the patient chose
    assert limits_said(driver) == ["break-glass", "chosen-hospitals"]
    assert "break-glass" in driver.find_element(By.ID, "record-limits").text
    driver.save_screenshot(str(shots / "break-glass-th.png"))
    accessible(driver, "a record read under break-glass (Thai)")
