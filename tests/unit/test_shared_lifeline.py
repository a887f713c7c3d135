"""A child bound to its parent ends when the parent dies (the kernel's signal or the
watchdog); a deadline ends a stuck process; a shutdown budget abandons what overruns."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import pytest

from shared.lifeline import OVERRAN_EXIT, Budget
from tests.support.procs import alive

pytestmark = pytest.mark.unit

# The parent starts a child bound to it, prints the child's pid once bound, and waits.
PARENT = """
import os, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid()), *sys.argv[2:]],
                         stdout=subprocess.PIPE, text=True)
child.stdout.readline()
print(child.pid, flush=True)
child.wait()
"""
CHILD = """
import signal, sys, time
from shared.lifeline import bind_to_parent
parent, kernel, ignore_term = int(sys.argv[1]), sys.argv[2] == "kernel", sys.argv[3] == "ignore"
if ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
bind_to_parent(parent, signum=signal.SIGTERM, grace_s=0.5, use_kernel=kernel)
print("bound", flush=True)
time.sleep(60)
"""


def gone_within(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


@pytest.mark.parametrize(
    ("how", "term"),
    [("kernel", "obey"), ("watchdog", "obey"), ("kernel", "ignore"), ("watchdog", "ignore")],
)
def test_a_bound_child_ends_when_its_parent_is_killed(how: str, term: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD, how, term], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        # SIGTERM at once (kernel) or within a second (watchdog); ignored: 0.5 s later, for good
        assert gone_within(child, 5.0), f"child {child} outlived its parent ({how}, {term})"
    finally:
        if alive(child):
            subprocess.run(["kill", "-KILL", str(child)], check=False)


def test_a_process_past_its_deadline_ends() -> None:
    stuck = "from shared.lifeline import exit_within; import time; exit_within(0.2, 'test'); "
    stuck += "time.sleep(30)"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", stuck], capture_output=True, timeout=20)
    assert done.returncode == OVERRAN_EXIT
    assert time.monotonic() - started < 10


async def test_a_shutdown_step_that_overruns_is_abandoned_and_the_next_runs() -> None:
    budget = Budget(0.3)
    ran: list[str] = []

    async def hangs() -> None:
        await asyncio.sleep(30)

    async def fails() -> None:
        raise RuntimeError("broker gone")

    async def closes() -> None:
        ran.append("closed")

    started = time.monotonic()
    await budget.run(hangs(), "hangs")
    await budget.run(fails(), "fails")
    await budget.run(closes(), "closes")
    assert ran == ["closed"]
    assert time.monotonic() - started < 2


async def test_a_step_gets_at_most_its_cap() -> None:
    budget = Budget(10.0)
    started = time.monotonic()
    await budget.run(asyncio.sleep(30), "capped", cap=0.2)
    assert time.monotonic() - started < 2
