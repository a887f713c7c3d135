"""Signed heads on the real database and broker: a database administrator's edits are
found, the first bad record named, by ``healthlink audit verify`` and by inclusion proofs.

Part one tampers with a chain stored in FerretDB, one way per test (edit a field, hide an
access from the patient, delete the tail, delete one record and re-hash, swap two
records, swap and re-hash, insert a forged record, edit and re-hash the suffix; each time
moving the tip). Part two runs the audit service in-process on Kafka: heads are published
on their topic, the CLI verifies against them even after the stored heads are deleted,
and a patient's proof document from the HTTP API is checked offline by the CLI.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from joserfc.jwk import OKPKey
from pymongo import ASCENDING, AsyncMongoClient

from services.audit import handlers
from services.audit.handlers import Deps
from services.audit.proofs import check_proof
from services.audit.repository import MongoAuditLog
from services.audit.settings import AuditSettings
from services.audit.sources import Entry
from shared import tokens, topics
from shared.database import Document
from shared.events import AuditHeadSigned, RecordAccessed
from shared.kafka_client import ADMIN, client_options
from shared.settings import Settings
from tests.support.audit_tamper import TAMPERS, Rec
from tests.support.cli import healthlink
from tests.support.events import raw
from tests.support.inprocess import running
from tests.support.journey import auth, eventually
from tests.support.kafka import read_events
from tests.support.settings import TEST_SECRET

pytestmark = pytest.mark.integration

CHAIN = "access.p0"
CID = "1100700000001"
N, K = 12, 5


def entry(n: int) -> Entry:
    when = datetime(2026, 1, 1, 0, 0, n % 60, 123_456, tzinfo=UTC)
    body = {"id": f"ev-{n}", "data": {"patient": CID, "decision": "permit", "n": n}}
    index: dict[str, Any] = {"kind": "access", "type": "record.accessed", "time": when,
                             "patient": CID, "physician": "12345", "hospital": "11535",
                             "decision": "permit", "break_glass": False}  # fmt: skip
    return Entry(CHAIN, f"ev-{CHAIN}-{n}", body, index)


async def stored_chain(db: Any, chain: str) -> list[Rec]:
    return [d async for d in db.records.find({"chain": chain}).sort([("seq", ASCENDING)])]


async def replace_chain(db: Any, chain: str, records: list[Rec]) -> None:
    """What an administrator with write access does: rewrite the chain, move the tip."""
    await db.records.delete_many({"chain": chain})
    await db.records.insert_many(records)
    last = records[-1]
    await db.tips.update_one({"_id": chain}, {"$set": {"seq": last["seq"], "hash": last["hash"]}})


@pytest.mark.parametrize("name", sorted(TAMPERS))
async def test_verify_names_the_first_bad_record_and_the_proof_fails(
    mongo: AsyncMongoClient[Document], name: str
) -> None:
    db = mongo[f"audit_heads_{uuid.uuid4().hex[:10]}"]
    log_ = MongoAuditLog(db)
    await log_.ensure_indexes()
    deps = Deps(log=log_, key=OKPKey.generate_key("Ed25519", private=True))
    for i in range(N):
        assert await log_.append(entry(i))
    assert await handlers.sign_heads(deps) == 1
    intact = await handlers.verify_log(deps)
    assert intact.ok and intact.heads == {CHAIN: N} and intact.checked == N
    assert deps.key is not None
    before = await handlers.access_proof(deps, CID)
    assert check_proof(before, deps.key).proven == N

    await replace_chain(db, CHAIN, TAMPERS[name](copy.deepcopy(await stored_chain(db, CHAIN)), K))

    found = await handlers.verify_log(deps)
    assert [(b.chain, b.seq) for b in found.breaches] == [(CHAIN, K)], found.breaches
    after = check_proof(await handlers.access_proof(deps, CID), deps.key)
    if name != "edit-index":  # moved out of the patient's log: an omission (docs/audit.md)
        assert not after.ok and after.problems
    await mongo.drop_database(db.name)


async def test_records_from_an_older_version_are_named(mongo: AsyncMongoClient[Document]) -> None:
    from services.audit.chain import legacy_hash

    db = mongo[f"audit_heads_{uuid.uuid4().hex[:10]}"]
    log_ = MongoAuditLog(db)
    await log_.ensure_indexes()
    for i in range(3):
        assert await log_.append(entry(i))
    records = await stored_chain(db, CHAIN)
    for rec in records:  # as format 1 stored them
        del rec["v"]
        rec["hash"] = legacy_hash(rec)
    await replace_chain(db, CHAIN, records)
    found = await handlers.verify_log(Deps(log=log_))
    assert [(b.seq, b.kind) for b in found.breaches] == [(0, "legacy")]
    await mongo.drop_database(db.name)


# --- the service on Kafka, the CLI, the HTTP proof -------------------------------------------


@pytest.fixture(scope="module")
def audit_settings(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Any:
    key = OKPKey.generate_key("Ed25519", private=True)
    return AuditSettings(
        **stack_settings.model_dump(),
        audit_head_interval_s=0.3,
        audit_signing_key=json.dumps(key.as_dict(private=True)),
        data_dir=str(tmp_path_factory.mktemp("audit-data")),
    )


@pytest.fixture(scope="module")
async def audit(audit_settings: AuditSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running("audit", audit_settings) as (_, client):
        yield client


async def test_heads_published_verified_by_the_cli_and_proofs_checked_offline(
    audit: httpx.AsyncClient,
    audit_settings: AuditSettings,
    mongo: AsyncMongoClient[Document],
    tmp_path: Path,
) -> None:
    settings = audit_settings
    producer = AIOKafkaProducer(**client_options(settings, ADMIN), acks="all")
    await producer.start()
    try:
        for i in range(N):
            data = {"physician": "12345", "hospital": "11535", "patient": CID,
                    "decision": "permit", "categories": ["lab_value"],
                    "time": datetime.now(UTC).isoformat(), "n": i}  # fmt: skip
            event = raw(RecordAccessed, CID, data)
            await producer.send_and_wait(
                topics.named(topics.ACCESS_EVENTS, settings.topic_prefix),
                event.model_dump_json().encode(),
                key=CID.encode(),
            )
    finally:
        await producer.stop()
    db = mongo[settings.db_name("audit")]

    async def signed_all() -> str | None:
        doc = await db.heads.find_one({"tree_size": N})
        return str(doc["chain"]) if doc else None

    chain = await eventually(signed_all, 30.0, "a signed head over every access")
    published = await read_events(settings, topics.AUDIT_HEADS, 1)
    assert published and all(e["type"] == AuditHeadSigned.TYPE for _, e in published)
    assert {key for key, _ in published} == {chain}

    public = (await audit.get("/audit/public-key")).json()
    assert public["kty"] == "OKP" and public["crv"] == "Ed25519" and "d" not in public
    key_file = tmp_path / "audit-public.jwk"
    key_file.write_text(json.dumps(public))
    assert json.loads((await healthlink(settings, "audit", "public-key")).stdout) == public

    started = time.monotonic()
    result = await healthlink(settings, "audit", "verify", "--json", "--key", str(key_file))
    verify_s = time.monotonic() - started
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["ok"] and report["heads"] == {chain: N}, report
    print(f"\nverify of {N} records against the topic and store: {verify_s:.2f} s")

    me = auth(tokens.issue(TEST_SECRET, tokens.PATIENT, CID, 600))
    other = auth(tokens.issue(TEST_SECRET, tokens.PATIENT, "3100700000002", 600))
    assert (await audit.get(f"/patients/{CID}/accesses/proof", headers=other)).status_code == 403
    assert (await audit.get(f"/patients/{CID}/accesses/proof")).status_code == 401
    answer = await audit.get(f"/patients/{CID}/accesses/proof", headers=me)
    assert answer.status_code == 200 and len(answer.json()["entries"]) == N
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(answer.text)
    checked = await healthlink(settings, "audit", "check-proof", str(proof_file), "--key",
                               str(key_file))  # fmt: skip
    assert checked.exit_code == 0 and f"{N} entries proven" in checked.stdout, checked.stdout

    # The administrator re-hashes a suffix, moves the tip and deletes the stored heads.
    records = await stored_chain(db, chain)
    await replace_chain(db, chain, TAMPERS["rehash-suffix"](records, K))
    await db.heads.delete_many({})
    result = await healthlink(settings, "audit", "verify", "--json", "--key", str(key_file))
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and [(b["chain"], b["seq"]) for b in report["breaches"]] == [
        (chain, K)
    ], report
    text = await healthlink(settings, "audit", "verify", "--key", str(key_file))
    assert f"BREACH {chain} seq {K}" in text.stdout
    answer = await audit.get(f"/patients/{CID}/accesses/proof", headers=me)
    assert answer.status_code == 200 and answer.json()["entries"]  # heads the signer holds
    proof_file.write_text(answer.text)
    failed = await healthlink(settings, "audit", "check-proof", str(proof_file), "--key",
                              str(key_file))  # fmt: skip
    assert failed.exit_code == 1 and "FAIL" in failed.stdout
