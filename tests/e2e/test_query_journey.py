"""A physician's reads across the running services: searches, summary, roster removal."""

from __future__ import annotations

import random

import pytest

from healthlink.synthetic import make_patient_bundle
from shared.settings import Settings
from tests.support.journey import Actors, auth, uploader
from tests.support.searchsets import records_of

pytestmark = pytest.mark.e2e


async def test_searches_and_summary_show_only_consented_sources_until_removed(
    actors: Actors, settings: Settings
) -> None:
    rng = random.Random(55)
    source = await actors.hospital("10671", "Lerdsin Hospital")
    other = await actors.hospital("10713", "Maharaj Nakorn Chiang Mai Hospital")
    reader = await actors.hospital("10707", "Khon Kaen Hospital", role="consumer")
    cid, patient_token = await actors.patient(rng)
    await actors.consent(cid, patient_token, [source.code])
    doctor = await actors.physician(reader, "40001")
    for hospital in (source, other):
        async with uploader(settings, hospital) as adapter:
            bundle = make_patient_bundle(
                rng, cid=cid, hospital_code=hospital.code, n_resources=20, sensitive_fraction=0.0
            )
            await adapter.send(bundle)
    await actors.records(doctor, cid, at_least=20)

    r = await actors.http.get(
        actors.url("query", f"/fhir/Condition?patient={cid}&_sort=-date&_count=5"),
        headers=auth(doctor),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert records_of(body) and all(
        e["resource"]["meta"]["source"].endswith(source.code) for e in records_of(body)
    )
    r = await actors.http.get(actors.url("query", f"/patients/{cid}/summary"), headers=auth(doctor))
    assert [s["hospital"] for s in r.json()["sources"]] == [source.code]
    r = await actors.http.get(actors.url("query", "/fhir/metadata"))
    assert r.json()["resourceType"] == "CapabilityStatement"

    r = await actors.http.delete(
        actors.url("query", f"/hospitals/{reader.code}/physicians/40001"),
        headers=auth(reader.admin_key),
    )
    assert r.status_code == 200
    assert (await actors.everything(doctor, cid)).status_code == 403
