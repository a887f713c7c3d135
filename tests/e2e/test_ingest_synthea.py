"""A Synthea-shaped transaction bundle, end to end: adapter -> ingest -> physician read."""

from __future__ import annotations

import random

import pytest

from healthlink.synthetic import synthea_like_bundle
from shared.settings import Settings
from tests.support.journey import Actors, uploader

pytestmark = pytest.mark.e2e


async def test_synthea_like_bundle_readable_by_a_physician(
    actors: Actors, settings: Settings
) -> None:
    rng = random.Random(2024)
    source = await actors.hospital("10682", "Chonburi Hospital")
    reader = await actors.hospital("10745", "Hat Yai Hospital", role="consumer")
    cid, token = await actors.patient(rng)
    await actors.consent(cid, token, [source.code])
    doctor = await actors.physician(reader, "54321")
    async with uploader(settings, source) as adapter:
        await adapter.send(synthea_like_bundle(rng, cid))

    body = await actors.records(doctor, cid, at_least=8)
    types = {e["resource"]["resourceType"] for e in body["entry"]}
    assert {"Encounter", "Condition", "Observation", "Immunization", "MedicationRequest",
            "Procedure", "DiagnosticReport"} <= types  # fmt: skip
    assert not types & {"Claim", "ExplanationOfBenefit"}, "billing resources are skipped"
    condition = next(e["resource"] for e in body["entry"]
                     if e["resource"]["resourceType"] == "Condition")  # fmt: skip
    assert condition["subject"]["reference"].startswith("Patient/"), "urn:uuid resolved"
