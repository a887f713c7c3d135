"""The ``healthlink`` command as an operator runs it, with the test's settings.

In-process through Typer's runner (the command reads its settings from the
environment it is given), off the event loop: the command's HTTP calls block.
"""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner, Result

from healthlink.cli import cli
from shared.settings import Settings
from tests.support.settings import env_of


async def healthlink(settings: Settings, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``healthlink ARGS``; the result has ``exit_code``, ``stdout`` and ``stderr``.
    ``env``: more of the command's environment (``HEALTHLINK_OPERATOR_NAME``, say)."""
    environment: dict[str, str | None] = {**env_of(settings), **(env or {})}

    def run() -> Result:
        return CliRunner().invoke(cli, list(args), env=environment)

    return await asyncio.to_thread(run)
