"""Validation in worker processes answers exactly what validation in a thread answers."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from healthlink.synthetic import make_patient_bundle
from services.ingest.bundle import load_bundle
from services.ingest.categories import CATEGORY_BY_TYPE
from services.ingest.errors import BundleRejected
from services.ingest.validation import InProcesses, InThread
from shared.cid import random_cid

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def bodies() -> list[bytes]:
    rng = random.Random(12)
    good = make_patient_bundle(rng, cid=random_cid(rng), n_resources=12)
    bad = make_patient_bundle(rng, cid=random_cid(rng), n_resources=6)
    bad["entry"][2]["resource"]["status"] = 42
    unknown = make_patient_bundle(rng, cid=random_cid(rng), n_resources=4)
    unknown["entry"][1]["resource"]["resourceType"] = "NotAThing"
    return [json.dumps(b).encode() for b in (good, bad, unknown, good)]


def summary(outcomes: list[BaseException | None]) -> list[tuple[str, str] | None]:
    return [
        (o.reason, o.detail) if isinstance(o, BundleRejected) else None if o is None else ("?", "")
        for o in outcomes
    ]


async def test_worker_processes_answer_like_a_thread() -> None:
    raw = bodies()
    loaded = [load_bundle(b) for b in raw]
    expected = summary(await InThread().validate(raw, loaded))
    assert [e[0] if e else None for e in expected] == [
        None, "invalid-resource", "invalid-resource", None
    ]  # fmt: skip
    workers = InProcesses(2, 5_000_000, list(CATEGORY_BY_TYPE))
    await workers.start()
    try:
        assert summary(await workers.validate(raw, [load_bundle(b) for b in raw])) == expected
        assert await workers.validate([], []) == [], "a batch with nothing left to validate"
    finally:
        await workers.stop()


async def test_a_replay_starts_one_worker_and_more_only_when_a_batch_needs_them() -> None:
    raw = bodies()
    workers = InProcesses(2, 5_000_000, list(CATEGORY_BY_TYPE))
    await workers.start(every=False)  # returns before the worker is up
    try:
        one = await workers.validate(raw[:1], [load_bundle(raw[0])])
        assert one == [None]
        assert len(workers._pool._processes) == 1  # type: ignore[union-attr]
        split = await workers.validate(raw, [load_bundle(b) for b in raw])
        assert [o is None for o in split] == [True, False, False, True]
        assert len(workers._pool._processes) == 2  # type: ignore[union-attr]
    finally:
        await workers.stop()


def test_a_worker_imports_no_broker_database_web_or_adapter_client() -> None:
    """What a worker imports to find its functions (its start is mostly imports)."""
    heavy = ("httpx", "aiokafka", "faststream", "pymongo", "fastapi", "structlog", "rich")
    code = (
        "import sys, services.ingest.validation_worker; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, cwd=ROOT)  # fmt: skip
    assert found.stdout.strip() == ""
