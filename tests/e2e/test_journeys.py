"""Journeys across the five running services, on the real Kafka and database."""

from __future__ import annotations

import random

import pytest

from healthlink.synthetic import make_patient_bundle
from shared.settings import Settings
from tests.support.journey import Actors, auth, eventually, uploader
from tests.support.searchsets import records_of

pytestmark = pytest.mark.e2e


async def test_consent_upload_read_audit_inbox_then_revoke(
    actors: Actors, settings: Settings
) -> None:
    rng = random.Random(7)
    source = await actors.hospital("10670", "Siriraj Hospital")
    other = await actors.hospital("13781", "Ramathibodi Hospital")
    reader = await actors.hospital("11535", "Chulalongkorn Hospital", role="consumer")
    cid, patient_token = await actors.patient(rng)
    await actors.consent(cid, patient_token, [source.code])
    doctor = await actors.physician(reader, "12345")

    for hospital in (source, other):
        async with uploader(settings, hospital) as adapter:
            await adapter.send(
                make_patient_bundle(
                    rng,
                    cid=cid,
                    hospital_code=hospital.code,
                    n_resources=12,
                    sensitive_fraction=0.0,
                )
            )

    bundle = await actors.records(doctor, cid)
    sources = {e["resource"]["meta"]["source"] for e in records_of(bundle)}
    assert sources == {f"urn:healthlink:hospital:{source.code}"}

    async def permitted_access() -> list[dict[str, object]] | None:
        r = await actors.http.get(
            actors.url("audit", f"/patients/{cid}/accesses"), headers=auth(patient_token)
        )
        entries = [e for e in r.json()["entries"] if e["decision"] == "permit"]
        return entries or None

    entries = await eventually(permitted_access, what="audit record of the read")
    assert entries[0]["physician"] == "12345" and entries[0]["hospital"] == reader.code

    async def inbox_entry() -> list[dict[str, object]] | None:
        r = await actors.http.get(
            actors.url("notify", f"/patients/{cid}/inbox"), headers=auth(patient_token)
        )
        found = [e for e in r.json()["entries"] if e["kind"] == "record-accessed"]
        return found or None

    assert await eventually(inbox_entry, what="inbox entry for the read")

    await actors.revoke(cid, patient_token, source.code)

    async def denied() -> bool:
        return (await actors.everything(doctor, cid)).status_code == 403

    assert await eventually(denied, what="read denied after revocation")

    async def denial_audited() -> list[dict[str, object]] | None:
        r = await actors.http.get(
            actors.url("audit", f"/patients/{cid}/accesses"), headers=auth(patient_token)
        )
        return [e for e in r.json()["entries"] if e["decision"] == "deny"] or None

    assert await eventually(denial_audited, what="denial in the audit log")
