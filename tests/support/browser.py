"""The real browser of the portal's e2e tests: Debian's chromium and chromedriver
(``make browser``) driven by Selenium, headless, with explicit waits only (the ``phone``
and ``browser`` fixtures are in ``tests/e2e/conftest.py``); and the few services a
browser journey needs, as processes."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from shared.settings import Settings
from tests.support.platform import Platform, running_platform

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
PHONE = (390, 844)  # a phone's screen, CSS pixels
WAIT_S = 30  # a wait ends as soon as its condition holds; this long only when it never does
# chromedriver's word for a node of a document being replaced (a page still loading
# when an element was found in it): look again, as for a stale element
GONE = "does not belong to the document"


def only(needed: tuple[str, ...], **env: str) -> tuple[Any, Any]:
    """A module's ``settings`` and ``platform`` fixtures (``settings, platform =
    only(...)``): the module's own topics and databases (``ops_settings``), and only
    the services its journey needs (fewer processes on a shared machine), with ``env``
    set for them. Its own settings, not the session's: the auth service a module starts
    registers the development operator and the portal client with its own keys and
    redirect addresses, which must not replace those of the session platform's auth."""

    @pytest.fixture(scope="module", name="settings")
    def own_settings(ops_settings: Settings) -> Settings:
        return ops_settings

    @pytest.fixture(scope="module")
    def platform(
        settings: Settings, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Platform]:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            with running_platform(settings, tmp_path_factory.mktemp("logs"), needed) as running:
                yield running

    return own_settings, platform


@contextmanager
def chromium(width: int, height: int, *, phone: bool = False) -> Iterator[WebDriver]:
    """Headless chromium at that size (a phone's, with touch, when ``phone``), asking
    for English first (the pages follow Accept-Language until a language is chosen)."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("chromium and chromium-driver are missing: run `make browser`")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    if phone:
        screen = {"width": width, "height": height, "pixelRatio": 2, "touch": True}
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": screen})
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: ``HEALTHLINK_PORTAL_SCREENSHOTS``, else the test's tmp dir."""
    shots = Path(os.environ.get("HEALTHLINK_PORTAL_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    return shots


class _Wait(WebDriverWait[WebDriver]):
    """A wait that also looks again when chromedriver says the node it found belongs
    to a document no longer shown (``GONE``), as for a stale element."""

    def until(self, method: Any, message: str = "") -> Any:
        def again(driver: WebDriver) -> Any:
            try:
                return method(driver)
            except WebDriverException as exc:
                if GONE in str(exc.msg):
                    return False
                raise

        return super().until(again, message)


def waiting(driver: WebDriver) -> WebDriverWait[WebDriver]:
    """Explicit waits of up to ``WAIT_S``; the pages redraw their lists, so an element
    found a moment ago may be gone: look again."""
    return _Wait(driver, WAIT_S, ignored_exceptions=[StaleElementReferenceException])


def loaded(driver: WebDriver) -> None:
    """Wait until the page shown has loaded whole (an element found in a page still
    loading may belong to a document about to be replaced)."""
    waiting(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _retried(driver: WebDriver, action: Callable[[], None]) -> None:
    """Run ``action`` (which finds its elements itself) again, once the page has loaded,
    when the page it touched was being replaced mid-way."""
    for attempt in range(3):
        try:
            action()
            return
        except WebDriverException as exc:
            gone = isinstance(exc, StaleElementReferenceException) or GONE in str(exc.msg)
            if not gone or attempt == 2:
                raise
            loaded(driver)


def visible(wait: WebDriverWait[WebDriver], css: str) -> str:
    element = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))
    return str(element.text)


def text_in(wait: WebDriverWait[WebDriver], css: str, text: str) -> None:
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))


def fill(driver: WebDriver, field: str, value: str) -> None:
    def typed() -> None:
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)

    _retried(driver, typed)


def settled(driver: WebDriver) -> None:
    """Wait until the page has drawn what its last action loaded (``aria-busy`` false)."""
    waiting(driver).until(
        lambda d: d.find_element(By.ID, "main").get_attribute("aria-busy") == "false"
    )


def click(driver: WebDriver, css: str) -> None:
    """A real click, on the element brought to the middle of the screen (sticky tabs
    would take a click at its top), once the page has settled."""
    settled(driver)
    element = driver.find_element(By.CSS_SELECTOR, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def fits_the_phone(driver: WebDriver) -> None:
    width = driver.execute_script("return [document.documentElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1], f"the page is wider than the phone: {width}"


def submit(driver: WebDriver, action: str) -> None:
    """Send the auth page's form whose action is ``action`` and wait until the answer
    has replaced the page and loaded: a check made before that would read the page
    still shown, or touch an element the browser is throwing away mid-read."""
    loaded(driver)
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, f"form[action='{action}'] button").click()
    waiting(driver).until(lambda _: gone(page))
    loaded(driver)


def gone(element: Any) -> bool:
    """``ec.staleness_of``, also when chromium answers that the node "does not belong to
    the document" (the page being replaced mid-check) instead of calling it stale."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if GONE in str(exc):
            return True
        raise
    return False


def send_code(driver: WebDriver, cid: str, code_file: Path) -> str:
    """On the auth service's page: the CID sent until auth knows the registration (it
    learns it from consent's events; until then the page says so and asks again); the
    code the development sender wrote to ``code_file``. Each answer is awaited as a new
    page (the old one gone stale): a check on the page still shown would see neither
    the code's field nor, when the form is filled again, the CID's."""
    wait = waiting(driver)
    deadline = time.monotonic() + 30
    while True:
        fill(driver, "cid", cid)
        submit(driver, "/authorize/patient/code")
        wait.until(lambda d: d.find_elements(By.ID, "code") or d.find_elements(By.ID, "cid"))
        if driver.find_elements(By.ID, "code"):
            return code_file.read_text().strip()
        if time.monotonic() > deadline:
            raise AssertionError("auth never sent the code")
        time.sleep(0.5)
