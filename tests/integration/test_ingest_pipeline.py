"""The ingest service in-process against the real Kafka and FerretDB.

Uploads go through the real topic; every refusal lands on the real dead-letter
topic with its reason, and every dead letter can be replayed.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from healthlink_adapter import HttpUploader, JwsSigner, KafkaUploader, Signer, UploadRefused
from healthlink_adapter.signing import new_key
from pymongo import AsyncMongoClient

from healthlink.simulator import simulate
from healthlink.synthetic import make_patient_bundle
from shared import topics
from shared.broker import Publisher, make_broker
from shared.cid import random_cid
from shared.database import Document
from shared.deadletter import DeadLetters
from shared.events import ConsentGranted, DataRequested, HospitalRegistered, topic_of
from shared.kafka_admin import hospital_connection
from shared.kafka_client import ADMIN
from shared.settings import Settings
from tests.support.credentials import credentials_of, signer
from tests.support.events import envelope
from tests.support.inprocess import running
from tests.support.journey import eventually
from tests.support.kafka import dead_letters, publish_raw
from tests.support.settings import isolated_settings
from tests.support.stack import Endpoints
from tests.support.system_tokens import SystemAuth, bearer, system_token, verifier

pytestmark = pytest.mark.integration
SOURCE = "10670"
READER = "11535"


@pytest.fixture
def settings(endpoints: Endpoints) -> Settings:
    return isolated_settings(endpoints, max_bundle_bytes=60_000)


@pytest.fixture
async def ingest(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running("ingest", settings) as (app, client):
        app.state.token_verifier = verifier()  # hospital systems' tokens (system_tokens)
        await publish_state(settings, topics.HOSPITAL_EVENTS, SOURCE, hospital_state(SOURCE))
        await publish_state(
            settings, topics.HOSPITAL_EVENTS, READER, hospital_state(READER, "consumer")
        )
        db = db_of(settings)

        async def known() -> bool:
            return await db.hospital_view.count_documents({}) == 2

        await eventually(known, what="hospital projection")
        yield client


def db_of(settings: Settings) -> Any:
    client: AsyncMongoClient[Document] = AsyncMongoClient(settings.mongo_url, tz_aware=True)
    return client[settings.db_name("ingest")]


def hospital_state(code: str, role: str = "provider") -> dict[str, Any]:
    return {"code": code, "name": f"H{code}", "role": role, "consent_mode": "standing",
            "active": True, **credentials_of(code)}  # fmt: skip


async def publish_state(
    settings: Settings, topic: str, subject: str, state: dict[str, Any], version: int = 1
) -> None:
    kind = HospitalRegistered if topic == topics.HOSPITAL_EVENTS else ConsentGranted
    event = envelope(kind.model_validate({"version": version, "state": state}), subject)
    await publish_raw(settings, topic, event.model_dump_json().encode(), key=subject.encode())


async def grant(settings: Settings, cid: str, codes: list[str]) -> None:
    state = {"all_hospitals": False, "hospitals": codes, "allow_sensitive": True, "per_visit": []}
    await publish_state(settings, topics.CONSENT_EVENTS, cid, state)


def forger() -> JwsSigner:
    """Another key under the provider's kid: a forged signature."""
    return JwsSigner(new_key(signer(SOURCE).kid))


async def stored(settings: Settings, query: dict[str, Any], count: int) -> int:
    records = db_of(settings).records

    async def probe() -> int | None:
        found: int = await records.count_documents(query)
        return found if found >= count else None

    return await eventually(probe, what=f"{count} records for {query}")


async def test_stored_once_refusals_set_aside_and_replayable(
    ingest: httpx.AsyncClient, settings: Settings
) -> None:
    rng = random.Random(41)
    cid, late_cid = random_cid(rng), random_cid(rng)
    await grant(settings, cid, [SOURCE])
    newer = make_patient_bundle(random.Random(1), cid=cid, n_resources=15, version=2,
                                updated="2026-11-02T09:00:00+07:00")  # fmt: skip
    older = make_patient_bundle(random.Random(1), cid=cid, n_resources=15, version=1)
    no_cid = make_patient_bundle(rng, n_resources=5)
    no_cid["entry"][0]["resource"]["identifier"].pop(0)
    invalid = make_patient_bundle(rng, cid=cid, n_resources=5)
    invalid["entry"][2]["resource"]["status"] = 42
    huge = make_patient_bundle(rng, cid=cid, n_resources=100)
    unconsented = make_patient_bundle(rng, cid=late_cid, n_resources=10)
    async with (
        KafkaUploader(await hospital_connection(settings, SOURCE), SOURCE, signer(SOURCE),
                        settings.topic_prefix) as adapter,
        KafkaUploader(await hospital_connection(settings, SOURCE), SOURCE, forger(),
                        settings.topic_prefix) as forged,
    ):  # fmt: skip
        await adapter.send(newer, "up-newer")
        await adapter.send(newer, "up-newer")  # delivered twice
        await adapter.send(older, "up-older")
        await forged.send(newer, "up-forged")
        await adapter.send_bytes(b'{"resourceType": "Bundle", "type": ', cid, upload_id="up-json")
        await adapter.send(no_cid, "up-no-cid")
        await adapter.send(invalid, "up-invalid")
        await adapter.send(huge, "up-huge")
        await adapter.send(unconsented, "up-late")
    # A signature header that is not even UTF-8: set aside, its partition goes on.
    await publish_raw(
        settings, topics.INGEST_UPLOADS, json.dumps(newer).encode(), key=cid.encode(),
        headers={"hl-hospital": SOURCE, "hl-upload-id": "up-bytes",
                 "hl-signature": b"\xff\xfe\x80"},
    )  # fmt: skip
    await stored(settings, {"patient": cid}, 15)
    letters = await dead_letters(settings, at_least=7)
    reasons = {letter.source.headers["hl-upload-id"]: letter.reason for letter in letters}
    assert reasons == {
        "up-forged": "bad-signature",
        "up-bytes": "bad-signature",
        "up-json": "malformed-json",
        "up-no-cid": "no-cid",
        "up-invalid": "invalid-resource",
        "up-huge": "oversized",
        "up-late": "no-consent",
    }
    records = db_of(settings).records
    assert await records.count_documents({"patient": cid}) == 15
    assert await records.count_documents({"patient": cid, "upload_id": "up-newer"}) == 15
    versions = {
        json.loads(d["resource_json"])["meta"]["versionId"]
        async for d in records.find({"patient": cid})
    }
    assert versions == {"2"}, "the older version did not overwrite the newer"

    # Consent arrives: the held upload is released; the operator's replay adds nothing.
    await grant(settings, late_cid, [SOURCE])
    assert await stored(settings, {"patient": late_cid}, 10) == 10
    broker = make_broker(settings, "operator", principal=ADMIN)
    await broker.connect()
    try:
        dead = DeadLetters(Publisher(broker, settings), "operator", settings.topic_prefix)
        for letter in letters:
            await dead.retry(letter)
    finally:
        await broker.stop()
    again = await dead_letters(settings, at_least=13)
    replayed = [letter for letter in again if letter.id not in {x.id for x in letters}]
    assert sorted(letter.reason for letter in replayed) == sorted(
        r for r in reasons.values() if r != "no-consent"
    ), "each refusal is refused again for the same reason; the consented one is stored"
    assert await records.count_documents({"patient": late_cid}) == 10
    assert await records.count_documents({"upload_id": "up-late"}) == 10
    assert not await db_of(settings).held.count_documents({})


async def test_gateway_accepts_and_refuses_with_operation_outcomes(
    ingest: httpx.AsyncClient, settings: Settings
) -> None:
    """Through the adapter package's HTTP uploader, as a hospital without Kafka sends."""
    rng = random.Random(42)
    cid = random_cid(rng)
    await grant(settings, cid, [SOURCE])
    bundle = make_patient_bundle(rng, cid=cid, n_resources=9)

    def uploader(code: str = SOURCE, key: Signer | None = None) -> HttpUploader:
        return HttpUploader("", code, key or signer(code), client=ingest, auth=SystemAuth(code))

    receipt = await uploader().send(bundle, "up-http-1")
    assert receipt == "up-http-1"
    assert await stored(settings, {"upload_id": receipt}, 9) == 9
    assert await uploader().send(bundle, "up-http-1") == receipt  # a retried POST: same upload

    bad = json.loads(json.dumps(bundle))
    bad["entry"][1]["resource"]["status"] = 7
    big = make_patient_bundle(rng, cid=cid, n_resources=100)
    refusals = (
        (uploader(key=forger()), bundle, 401),  # forged
        (uploader(READER), bundle, 403),  # not a provider
        (uploader(), bad, 400),
        (uploader(), big, 413),
    )
    for sender, sent, status in refusals:
        with pytest.raises(UploadRefused) as refused:
            await sender.send(sent)
        assert refused.value.status == status, refused.value.diagnostics
    unsigned = await ingest.post("/fhir", content=b"{}", headers={"hl-hospital": SOURCE})
    assert unsigned.status_code == 401
    token_only = await ingest.post(
        "/fhir", content=b"{}", headers={"hl-hospital": SOURCE, **bearer(system_token(SOURCE))}
    )
    assert token_only.status_code == 401, "a token is no signature"
    body = json.dumps(bundle).encode()
    signed_only = {"hl-hospital": SOURCE, "hl-signature": signer(SOURCE).sign(body)}
    no_token = await ingest.post("/fhir", content=body, headers=signed_only)
    assert no_token.status_code == 401 and "SMART Backend Services" in no_token.text
    assert unsigned.json()["resourceType"] == "OperationOutcome"
    not_ascii = {b"hl-hospital": SOURCE.encode(), b"hl-signature": "sha256=é".encode()}
    garbled = await ingest.post("/fhir", content=b"{}", headers=not_ascii)
    assert garbled.status_code == 401, garbled.text


async def test_simulator_answers_a_data_request(
    ingest: httpx.AsyncClient, settings: Settings
) -> None:
    cid = random_cid(random.Random(43))
    await grant(settings, cid, [SOURCE])
    asked = DataRequested(patient=cid, hospital=SOURCE, reason="test", time=datetime.now(UTC))
    request = envelope(asked, SOURCE)
    answering = asyncio.create_task(
        simulate(settings, SOURCE, signer(SOURCE), n_resources=12, limit=1)
    )
    await publish_raw(settings, topic_of(request), request.model_dump_json().encode(),
                      key=SOURCE.encode())  # fmt: skip
    assert await asyncio.wait_for(answering, timeout=60) == 1
    assert await stored(settings, {"patient": cid, "hospital": SOURCE}, 12) == 12


async def test_a_hospital_follows_its_uploads_through_their_receipts(
    ingest: httpx.AsyncClient, settings: Settings
) -> None:
    """``Location`` polled until stored; a set-aside upload shows its reason; only the
    sender reads a receipt (another hospital finds nothing)."""
    rng = random.Random(44)
    cid, late_cid = random_cid(rng), random_cid(rng)
    await grant(settings, cid, [SOURCE])
    sender = HttpUploader("", SOURCE, signer(SOURCE), client=ingest, auth=SystemAuth(SOURCE))
    posted = await sender.send_bytes(
        json.dumps(make_patient_bundle(rng, cid=cid, n_resources=12)).encode(), upload_id="r-ok"
    )

    async def settled(receipt: str) -> dict[str, Any] | None:
        try:
            status, task = await sender.receipt(receipt)
        except UploadRefused as refused:  # over Kafka: unknown until the consumer saw it
            assert refused.status == 404 and receipt == "r-invalid", refused
            return None
        assert (status == 202) == (task["status"] == "received"), task
        return task if status == 200 else None

    done = await eventually(lambda: settled(posted), what="receipt r-ok settled")
    assert done["status"] == "completed" and done["output"][0]["valueInteger"] == 12
    unconsented = make_patient_bundle(rng, cid=late_cid, n_resources=4)
    await sender.send(unconsented, "r-late")
    late = await eventually(lambda: settled("r-late"), what="receipt r-late settled")
    assert late["status"] == "rejected" and late["statusReason"]["coding"][0]["code"] == (
        "no-consent"
    )
    invalid = make_patient_bundle(rng, cid=cid, n_resources=4)
    invalid["entry"][2]["resource"]["status"] = 42  # the gateway does not validate models
    async with KafkaUploader(await hospital_connection(settings, SOURCE), SOURCE,
                             signer(SOURCE), settings.topic_prefix) as adapter:  # fmt: skip
        await adapter.send(invalid, "r-invalid")  # over Kafka: no gateway, same receipt
    bad = await eventually(lambda: settled("r-invalid"), what="receipt r-invalid settled")
    assert bad["statusReason"]["coding"][0]["code"] == "invalid-resource"
    other = HttpUploader("", READER, signer(READER), client=ingest, auth=SystemAuth(READER))
    with pytest.raises(UploadRefused) as refused:
        await other.receipt(posted)
    assert refused.value.status == 404
    await grant(settings, late_cid, [SOURCE])  # releases the held upload: stored after all
    stored_late = await eventually(lambda: completed(sender, "r-late"), what="r-late stored")
    assert stored_late["output"][0]["valueInteger"] == 4


async def completed(sender: HttpUploader, receipt: str) -> dict[str, Any] | None:
    _, task = await sender.receipt(receipt)
    return task if task["status"] == "completed" else None
