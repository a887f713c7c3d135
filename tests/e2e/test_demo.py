"""``make up``'s demo: every curl command it prints works as printed, the SMART token
through the sign-in page (``healthlink auth physician-token``) included."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from healthlink import demo
from shared.settings import SERVICE_PORTS, Settings
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


async def test_every_printed_command_works(platform: Platform, settings: Settings) -> None:
    urls = {s: platform.url(s) for s in SERVICE_PORTS}
    data_dir = platform.log_dir  # where this platform's auth service keeps its operator key
    await demo.load(settings, urls, data_dir)
    printed = demo.render(urls, data_dir)
    assert "curl" in printed and "auth physician-token" in printed  # SMART, as printed
    for step in demo.steps(urls, data_dir):
        out = ""
        for _ in range(20):  # projections are eventually consistent: retry, briefly
            done = await asyncio.to_thread(
                subprocess.run,
                ["bash", "-c", step.command],
                capture_output=True,
                text=True,
                timeout=60,
            )
            out = done.stdout
            if step.expect in out:
                break
            await asyncio.sleep(0.5)
        assert step.expect in out, f"{step.title}: {out[-500:]}"
