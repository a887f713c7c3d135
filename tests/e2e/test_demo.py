"""``make up``'s demo: every curl command it prints works as printed."""

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
    await demo.load(settings, urls)
    assert "curl" in demo.render(urls)
    for step in demo.steps(urls):
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
