"""Repair: uploads set aside are retried from the tooling and stored exactly once.

The tooling (``healthlink dlq retry``) goes through a service's operator API.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from healthlink.operator import Operator
from healthlink.retry import retry
from healthlink.synthetic import make_patient_bundle
from shared.database import Document
from shared.settings import Settings
from tests.support.cli import healthlink
from tests.support.journey import OPERATOR, Actors, eventually, uploader
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e
SERVICES = ("consent", "ingest", "auth")  # auth: patients sign in from the wallet


@pytest.fixture(scope="module")
def ops_platform(
    ops_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    running = Platform(ops_settings, Path(tmp_path_factory.mktemp("ops-dlq-logs")))
    try:
        for service in SERVICES:
            running.start(service)
        for service in SERVICES:
            running.wait_ready(service)
        yield running
    finally:
        running.stop_all()


async def letters(ops: Actors, **params: str) -> dict[str, Any]:
    """One page of dead letters (the test's prefix holds fewer than a page)."""
    r = await ops.http.get(ops.url("ingest", "/admin/deadletters"), params=params, headers=OPERATOR)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["next"] is None, "more than one page"
    return body


async def stored(settings: Settings, cid: str) -> list[Document]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_url)
    try:
        coll = client[settings.db_name("ingest")].records
        return [d async for d in coll.find({"patient": cid}, {"_id": 1, "upload_id": 1})]
    finally:
        await client.close()


async def test_uploads_without_consent_are_retried_after_consent_and_stored_once(
    ops: Actors, ops_settings: Settings
) -> None:
    rng = random.Random(71)
    source = await ops.hospital("10670", "Siriraj Hospital")
    cid, token = await ops.patient(rng)
    bundles = [
        make_patient_bundle(rng, cid=cid, hospital_code=source.code, n_resources=10,
                            sensitive_fraction=0.0)
        for _ in range(3)
    ]  # fmt: skip
    async with uploader(ops_settings, source) as adapter:
        for bundle in bundles:
            await adapter.send(bundle)

    async def set_aside() -> dict[str, Any] | None:
        found = await letters(ops, reason="no-consent", status="pending")
        return found if found["count"] >= 3 else None

    listed = await eventually(set_aside, timeout_s=60, what="three uploads set aside")
    assert listed["by_reason"] == {"no-consent": 3}
    entry = listed["entries"][0]
    assert entry["service"] == "ingest" and entry["source"]["topic"] == "healthlink.ingest.uploads"
    assert entry["preview"]["kind"] == "fhir-bundle"
    assert sum(entry["preview"]["resource_types"].values()) == 10
    assert "hl-signature" not in entry["headers"]
    assert cid not in str(entry["preview"])  # no payload content, only shape

    await ops.consent(cid, token, [source.code])
    r = await ops.http.post(
        ops.url("ingest", "/admin/deadletters/retry"), headers=OPERATOR,
        json={"reason": "no-consent"},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["retried"] == 3, r.text
    expected = {
        f"{source.code}/{e['resource']['resourceType']}/{e['resource']['id']}"
        for b in bundles
        for e in b["entry"]
    }

    async def all_stored() -> list[Document] | None:
        docs = await stored(ops_settings, cid)
        return docs if {d["_id"] for d in docs} >= expected else None

    docs = await eventually(all_stored, timeout_s=60, what="retried uploads stored")
    assert sorted(d["_id"] for d in docs) == sorted(expected)  # one document per resource

    # Retrying again changes nothing: pending is empty, and a forced retry is idempotent.
    assert (await letters(ops, reason="no-consent", status="pending"))["count"] == 0
    # The service that owns the topic retries: Kafka's ACLs let only ingest write uploads.
    url = ["--url", ops.platform.url("ingest")]
    again = await healthlink(ops_settings, "dlq", "retry", "--reason", "no-consent", *url)
    assert again.exit_code == 0 and again.stdout.strip() == "retried 0", again.stderr
    forced = await healthlink(ops_settings, "dlq", "retry", entry["id"], *url)
    assert forced.exit_code == 0 and forced.stdout.strip() == "retried 1", forced.stderr
    # Through consent, which may not write uploads: refused (403), naming the owner.
    wrong = ["--url", ops.platform.url("consent")]
    refused = await healthlink(ops_settings, "dlq", "retry", entry["id"], *wrong)
    assert refused.exit_code == 1, refused.stdout
    assert "refused (403): the consent service may not write" in refused.stderr
    assert "healthlink.ingest.uploads (1 letter(s); written by ingest)" in refused.stderr
    after = await stored(ops_settings, cid)
    assert sorted(d["_id"] for d in after) == sorted(d["_id"] for d in docs)
    assert (await letters(ops, status="retried"))["count"] >= 3


async def test_an_upload_from_a_hospital_not_yet_a_provider_is_repaired_by_a_retry(
    ops: Actors, ops_settings: Settings
) -> None:
    rng = random.Random(72)
    reader = await ops.hospital("11535", "Chulalongkorn Hospital", role="consumer")
    cid, token = await ops.patient(rng)
    await ops.consent(cid, token, [reader.code])
    bundle = make_patient_bundle(rng, cid=cid, hospital_code=reader.code, n_resources=9)
    async with uploader(ops_settings, reader) as adapter:
        await adapter.send(bundle)

    async def set_aside() -> list[dict[str, Any]] | None:
        found = await letters(ops, reason="not-a-provider", status="pending")
        return found["entries"] or None

    [letter] = await eventually(set_aside, timeout_s=60, what="upload set aside")
    r = await ops.http.patch(
        ops.url("consent", f"/hospitals/{reader.code}"), headers=OPERATOR,
        json={"role": "provider"},
    )  # fmt: skip
    assert r.status_code == 200, r.text

    operator = Operator(ops_settings, {"ingest": ops.platform.url("ingest")})

    async def provider_known_to_ingest() -> bool:
        # retried too early the upload is set aside again; retry until ingest knows
        await asyncio.to_thread(retry, operator, letter["id"])
        return len(await stored(ops_settings, cid)) > 0

    await eventually(provider_known_to_ingest, timeout_s=60, what="retried upload stored")
    docs = await stored(ops_settings, cid)
    assert len(docs) == len(bundle["entry"])
    assert len({d["_id"] for d in docs}) == len(docs)
