"""Upload receipts over in-memory fakes: what the receipt URL answers in each state, who
may read it, and how the consumer's outcomes become receipts."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.ingest import subscribers
from services.ingest.handlers import Deps
from services.ingest.receipts import (
    QUEUED,
    SET_ASIDE,
    STORED,
    Receipt,
    answer_of,
    merged,
    replaces,
)
from services.ingest.receiptstore import MemoryReceipts
from shared.broker import RecordingPublisher
from shared.coverage import ConsentState, HospitalState
from shared.deadletter import SourceMessage
from shared.errors import Rejected
from shared.events import ConsentGranted, HospitalCredentialsChanged
from tests.support.credentials import credentialed
from tests.support.events import envelope
from tests.support.ingest import (
    CONSUMER,
    PROVIDER,
    api_client,
    memory_deps,
    patient_bundle,
    signature,
)
from tests.support.system_tokens import bearer, system_token

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)


@pytest.fixture
async def deps() -> Deps:
    return await memory_deps(lambda: NOW)


@pytest.fixture
async def client(deps: Deps) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(deps) as http:
        yield http


def signed(body: bytes | str, hospital: str = PROVIDER) -> dict[str, str]:
    """The signature headers, and the hospital system's token (read beside a signature:
    ignored on a receipt, wanted on an upload)."""
    token = bearer(system_token(hospital))
    return {"hl-hospital": hospital, "hl-signature": signature(body, hospital), **token}


async def consent(deps: Deps, cid: str) -> None:
    state = ConsentState.model_validate({"hospitals": [PROVIDER]})
    await subscribers.on_consent_event(deps, envelope(ConsentGranted(version=1, state=state), cid))


async def consume_queued(deps: Deps) -> None:
    """Run what the gateway published through the consumer, as Kafka would."""
    assert isinstance(deps.publisher, RecordingPublisher)
    sources = [SourceMessage(t, 0, i, k, v, h) for i, (t, v, k, h) in enumerate(deps.publisher.raw)]
    for source in sources:
        with contextlib.suppress(Rejected):  # the Guard sets it aside; the receipt says why
            await subscribers.on_upload(deps, source)


def kept(deps: Deps) -> dict[str, Receipt]:
    assert isinstance(deps.receipts, MemoryReceipts)
    return deps.receipts.kept


# The decision: status, body, headers per state.


def test_a_queued_upload_answers_202_with_retry_after() -> None:
    status, task, headers = answer_of(Receipt(PROVIDER, "up-1", QUEUED, NOW))
    assert status == 202 and headers == {"Retry-After": "1", "X-Progress": "queued"}
    assert task["resourceType"] == "Task" and task["status"] == "received"
    assert task["id"] == "up-1" and task["requester"]["identifier"]["value"] == PROVIDER


def test_a_stored_upload_answers_a_completed_task_with_its_counts() -> None:
    receipt = Receipt(PROVIDER, "up-1", STORED, NOW, resources=20, counts={"lab_value": 7},
                      skipped={"Claim": 1})  # fmt: skip
    status, task, headers = answer_of(receipt)
    assert status == 200 and headers == {} and task["status"] == "completed"
    counts = {(o["type"].get("coding") or [{}])[0].get("code"): o["valueInteger"]
              for o in task["output"]}  # fmt: skip
    assert counts == {"resources": 20, "lab_value": 7, None: 1}
    assert "statusReason" not in task


def test_a_set_aside_upload_answers_a_rejected_task_with_its_reason() -> None:
    receipt = Receipt(PROVIDER, "up-1", SET_ASIDE, NOW, reason="no-cid", detail="no Patient CID")
    status, task, _ = answer_of(receipt)
    assert status == 200 and task["status"] == "rejected" and "output" not in task
    assert task["statusReason"]["coding"][0]["code"] == "no-cid"
    assert task["statusReason"]["text"] == "no-cid: no Patient CID"


@pytest.mark.parametrize(
    ("kept_state", "new_state", "replaced"),
    [
        (None, QUEUED, True),
        (STORED, QUEUED, False),
        (SET_ASIDE, QUEUED, False),
        (QUEUED, SET_ASIDE, True),
        (STORED, SET_ASIDE, False),  # stored is final: its records are there
        (SET_ASIDE, STORED, True),  # a held upload released by a consent
        (STORED, STORED, True),
    ],
)
def test_which_state_replaces_which(kept_state: str | None, new_state: str, replaced: bool) -> None:
    assert replaces(kept_state, new_state) is replaced


def test_a_batch_keeps_each_receipt_once() -> None:
    stored = Receipt(PROVIDER, "up-1", STORED, NOW)
    again = [
        stored,
        Receipt(PROVIDER, "up-1", SET_ASIDE, NOW),
        Receipt(CONSUMER, "up-1", QUEUED, NOW),
    ]
    assert merged(again) == [stored, again[2]]


# The consumer's outcomes become receipts.


async def test_a_stored_upload_is_receipted_with_its_counts(deps: Deps) -> None:
    cid, body = patient_bundle(n_resources=20, sensitive_fraction=0.0)
    await consent(deps, cid)
    source = SourceMessage("uploads", 0, 0, None, body, {**signed(body), "hl-upload-id": "u-1"})
    await subscribers.on_upload(deps, source)
    receipt = kept(deps)[f"{PROVIDER}/u-1"]
    assert receipt.state == STORED and receipt.resources == 20
    assert sum(receipt.counts.values()) == 19  # all but the Patient


async def test_an_unconsented_upload_is_set_aside_then_stored_once_consented(deps: Deps) -> None:
    cid, body = patient_bundle(n_resources=5)
    source = SourceMessage("uploads", 0, 0, None, body, {**signed(body), "hl-upload-id": "u-2"})
    with pytest.raises(Rejected):
        await subscribers.on_upload(deps, source)
    assert kept(deps)[f"{PROVIDER}/u-2"].reason == "no-consent"
    await consent(deps, cid)  # releases the held upload
    assert kept(deps)[f"{PROVIDER}/u-2"].state == STORED


async def test_a_forged_upload_gets_no_receipt(deps: Deps) -> None:
    _, body = patient_bundle()
    headers = {"hl-hospital": PROVIDER, "hl-signature": signature(body, CONSUMER),
               "hl-upload-id": "u-3"}  # fmt: skip
    with pytest.raises(Rejected):
        await subscribers.on_upload(deps, SourceMessage("uploads", 0, 0, None, body, headers))
    assert kept(deps) == {}  # nobody may overwrite another hospital's receipt


async def test_a_queued_receipt_ends_when_its_key_is_removed_before_the_consumer_checks_it(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    """The gateway checked the signature and gave a receipt; the key is removed before the
    consumer reaches the upload: set aside (nothing signed with a removed key is stored),
    and the receipt says so instead of staying queued for ever."""
    cid, body = patient_bundle(n_resources=5)
    await consent(deps, cid)
    r = await client.post("/fhir", content=body, headers={**signed(body), "hl-upload-id": "v-9"})
    assert r.status_code == 202
    keyless = credentialed(HospitalState(code=PROVIDER, name=PROVIDER, role="provider"))
    keyless = keyless.model_copy(update={"signing_keys": ()})
    await subscribers.on_hospital_event(
        deps, envelope(HospitalCredentialsChanged(version=99, state=keyless), PROVIDER)
    )
    await consume_queued(deps)
    receipt = kept(deps)[f"{PROVIDER}/v-9"]
    assert (receipt.state, receipt.reason) == (SET_ASIDE, "no-signing-key")
    # never created for an upload nobody receipted, never over a final one
    await deps.receipts.settle_queued([Receipt(PROVIDER, "v-10", SET_ASIDE, NOW, reason="x")])
    await deps.receipts.record([Receipt(PROVIDER, "v-11", STORED, NOW, resources=1)])
    await deps.receipts.settle_queued([Receipt(PROVIDER, "v-11", SET_ASIDE, NOW, reason="x")])
    assert f"{PROVIDER}/v-10" not in kept(deps) and kept(deps)[f"{PROVIDER}/v-11"].state == STORED


# The receipt URL.


async def test_the_sender_follows_its_upload_from_queued_to_stored(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    cid, body = patient_bundle(n_resources=10)
    await consent(deps, cid)
    r = await client.post("/fhir", content=body, headers={**signed(body), "hl-upload-id": "v-1"})
    assert r.status_code == 202
    location = r.headers["location"]
    assert location == "/fhir/uploads/v-1"
    r = await client.get(location, headers=signed("v-1"))
    assert r.status_code == 202 and r.json()["status"] == "received"
    assert r.headers["retry-after"] == "1"
    await consume_queued(deps)
    r = await client.get(location, headers=signed("v-1"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    assert r.json()["status"] == "completed" and r.json()["output"][0]["valueInteger"] == 10


async def test_a_set_aside_upload_shows_its_reason(client: httpx.AsyncClient, deps: Deps) -> None:
    _, body = patient_bundle(n_resources=5)  # nobody consented
    r = await client.post("/fhir", content=body, headers={**signed(body), "hl-upload-id": "v-2"})
    assert r.status_code == 202
    await consume_queued(deps)
    r = await client.get("/fhir/uploads/v-2", headers=signed("v-2"))
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["statusReason"]["coding"][0]["code"] == "no-consent"


def outcome(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = json.loads(r.content)
    assert body["resourceType"] == "OperationOutcome"
    return body


async def test_only_the_sender_reads_a_receipt(client: httpx.AsyncClient, deps: Deps) -> None:
    await deps.receipts.record([Receipt(PROVIDER, "v-3", STORED, NOW, resources=1)])
    assert (await client.get("/fhir/uploads/v-3", headers=signed("v-3"))).status_code == 200
    # Another hospital with a valid signature of its own: not found, as if none existed.
    other = await client.get("/fhir/uploads/v-3", headers=signed("v-3", CONSUMER))
    unknown = await client.get("/fhir/uploads/v-4", headers=signed("v-4", CONSUMER))
    assert outcome(other, 404)["issue"][0]["code"] == "not-found"
    assert (
        other.json()["issue"][0]["diagnostics"].replace("v-3", "v-4")
        == (unknown.json()["issue"][0]["diagnostics"])
    )
    # Claiming to be the sender without its key; no credentials at all.
    forged = {"hl-hospital": PROVIDER, "hl-signature": signature("v-3", CONSUMER)}
    outcome(await client.get("/fhir/uploads/v-3", headers=forged), 401)
    outcome(await client.get("/fhir/uploads/v-3"), 401)
    # A signature of another receipt does not open this one.
    outcome(await client.get("/fhir/uploads/v-3", headers=signed("v-4")), 401)


@pytest.mark.parametrize("receipt", ["a" * 65, "x_y", "%C3%A9", "a%00b"])
async def test_a_malformed_receipt_is_a_400(client: httpx.AsyncClient, receipt: str) -> None:
    r = await client.get(f"/fhir/uploads/{receipt}", headers=signed(receipt))
    assert "1-64 of" in outcome(r, 400)["issue"][0]["diagnostics"]
