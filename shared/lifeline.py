"""A process's ties to its parent, and an end it cannot miss.

- ``bind_to_parent(parent)`` is the first thing a child process of a service does (a
  FHIR validation worker, query's chart projector): the child ends when the service
  does, however the service ends (SIGKILL and crashes included). On Linux the kernel
  sends the child a signal as its parent dies (``prctl(PR_SET_PDEATHSIG)``); a
  watchdog thread that looks at ``os.getppid()`` every second does the same where
  ``prctl`` is missing, and covers a parent that died before the child asked. A child
  sent SIGTERM (so it can finish its batch) is ended for good ``grace_s`` later.
- ``exit_within(seconds)``: a process that has decided to stop ends by then, even if a
  broker or database it waits on never answers (``os._exit``: no cleanup is run).
- ``Budget``: the steps of one shutdown share one time budget; a step that overruns
  it is abandoned (and logged) and the next step runs. Abandoning is safe: offsets
  are committed only after a message was handled, so at worst it comes again.

The kernel ties ``PR_SET_PDEATHSIG`` to the *thread* that started the child, so a
child must be started from a thread that lives as long as the process: both users
start theirs from the event loop's (main) thread.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable
from typing import Any


def log() -> Any:
    """This module's logger, imported on first use: a FHIR validation worker binds itself
    here and never logs, and need not import structlog (and rich) to start."""
    from shared.logging import get_logger

    return get_logger(__name__)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_EVERY_S = 1.0
OVERRAN_EXIT = 70  # EX_SOFTWARE: the process was ended by its own deadline
MIN_STEP_S = 0.2  # even an exhausted budget gives a step this long (closing a socket)


def ask_kernel(signum: int) -> bool:
    """Linux: have the kernel send ``signum`` when our parent dies. False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def bind_to_parent(
    parent: int,
    *,
    signum: int = signal.SIGKILL,
    grace_s: float = 5.0,
    use_kernel: bool = True,
) -> None:
    """End this process (``signum``, then ``os._exit`` after ``grace_s``) when ``parent`` dies."""
    if use_kernel:
        ask_kernel(signum)
    watchdog = threading.Thread(
        target=_watch, args=(parent, signum, grace_s), name="lifeline", daemon=True
    )
    watchdog.start()
    if os.getppid() != parent:  # it died before we asked: the kernel will not tell us
        _orphaned(signum, grace_s)


def _watch(parent: int, signum: int, grace_s: float) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_EVERY_S)
    _orphaned(signum, grace_s)


def _orphaned(signum: int, grace_s: float) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(grace_s)
    os._exit(OVERRAN_EXIT)


def exit_within(seconds: float, why: str) -> threading.Timer:
    """End this process ``seconds`` from now unless it has ended by itself."""

    def overran() -> None:
        log().error("still running at its deadline; exiting now", why=why, after_s=seconds)
        os._exit(OVERRAN_EXIT)

    timer = threading.Timer(seconds, overran)
    timer.name = "deadline"
    timer.daemon = True
    timer.start()
    return timer


class Budget:
    """One shutdown's time: each step gets what is left of it (at most its own cap)."""

    def __init__(self, seconds: float) -> None:
        self._ends = time.monotonic() + seconds

    def left(self) -> float:
        return max(MIN_STEP_S, self._ends - time.monotonic())

    async def run(self, step: Awaitable[object], what: str, cap: float | None = None) -> None:
        """Await ``step`` within the budget; if it overruns or fails, log it and go on."""
        timeout = self.left() if cap is None else min(cap, self.left())
        started = time.monotonic()
        try:
            await asyncio.wait_for(step, timeout)
        except TimeoutError:
            log().warning("shutdown step abandoned", step=what, after_s=round(timeout, 2))
        except Exception:
            log().exception("shutdown step failed", step=what)
        else:
            took_s = round(time.monotonic() - started, 2)
            log().debug("shutdown step done", step=what, took_s=took_s)
