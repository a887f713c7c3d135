"""Run every benchmark against the real local stack; print a table; write latest.json.

Each benchmark module exposes ``async def run(env) -> dict[str, float]``; add yours
to ``BENCHMARKS``. Only medians and percentiles are reported: the machine is noisy.
``infra_start_s`` restarts the local stack first; set ``HEALTHLINK_BENCH_RESTART=0``
to skip that when others share the stack (``python -m bench query`` runs one module).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
import time

from bench.env import bench_env
from bench.stats import table, write
from tests.support.stack import INFRA, ROOT, _local_stack

BENCHMARKS = [
    "bench.journey",
    "bench.consent",
    "bench.audit",
    "bench.ingest",
    "bench.query",
    "bench.ops",
    "bench.deadletters",
]


def infra_restart_s() -> float:
    """Warm start of the local infrastructure (tools cached), after a clean stop."""
    subprocess.run(["bash", str(INFRA), "down"], check=True, cwd=ROOT)
    start = time.perf_counter()
    subprocess.run(["bash", str(INFRA), "up"], check=True, cwd=ROOT)
    return round(time.perf_counter() - start, 2)


async def main(selected: list[str]) -> dict[str, float]:
    results: dict[str, float] = {}
    if os.environ.get("HEALTHLINK_BENCH_RESTART", "1") != "0":
        results["infra_start_s"] = infra_restart_s()
    endpoints = _local_stack()
    for name in selected:
        module = importlib.import_module(name)
        async with bench_env(endpoints) as env:
            print(f"[bench] {name} ...", flush=True)
            results.update(await module.run(env))
    return results


if __name__ == "__main__":
    chosen = [f"bench.{n}" for n in sys.argv[1:]] or BENCHMARKS
    found = asyncio.run(main(chosen))
    write(found)
    print(table(found))
