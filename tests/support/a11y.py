"""Accessibility checks in the real browser: axe-core (pinned in ``tests/a11y/package.json``
and its lock, installed by ``make a11y``, which ``make browser`` runs) injected into the
page with Selenium's ``execute_script``, run against WCAG 2.1 A and AA
(docs/portal.md#accessibility-checks)."""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

AXE = Path(__file__).resolve().parents[1] / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
SPENT = [0.0]  # seconds the checks took (journeys with a time budget leave them out)
RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})
  .then((r) => done({violations: r.violations.map((v) => ({id: v.id, impact: v.impact,
    help: v.help, nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary)}))}))
  .catch((e) => done({error: String(e)}));
"""


@cache
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make a11y` (or `make browser`)")
    return AXE.read_text(encoding="utf-8")


def violations(driver: WebDriver) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations of the page as it is now (axe injected first)."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(axe_source())
    driver.set_script_timeout(30)
    found: dict[str, Any] = driver.execute_async_script(RUN, list(TAGS))
    if "error" in found:
        pytest.fail(f"axe-core failed: {found['error']}")
    return list(found["violations"])


def accessible(driver: WebDriver, where: str) -> None:
    """Assert the page as it is now has no WCAG 2.1 A/AA violation axe-core finds."""
    started = time.monotonic()
    found = violations(driver)
    SPENT[0] += time.monotonic() - started
    lines = [
        f"{v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"][:5])
        for v in found
    ]
    assert not found, f"accessibility violations on {where}:\n" + "\n".join(lines)


def checking_time() -> float:
    """Seconds spent in ``accessible`` so far in this process."""
    return SPENT[0]
