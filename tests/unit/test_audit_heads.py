"""Signed heads over the in-memory audit log: signing, the JWS, verification naming the
first bad record after each kind of tampering, and inclusion-proof documents."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from joserfc.jwk import OKPKey

from services.audit import handlers
from services.audit.chain import ChainTip
from services.audit.fakes import MemoryAuditLog
from services.audit.handlers import Deps
from services.audit.heads import (
    HeadClaims,
    NoSigningKey,
    load_signing_key,
    public_jwk,
    read_head,
    read_public_key,
    sign_head,
    verified_heads,
)
from services.audit.proofs import check_proof
from shared.broker import RecordingPublisher
from shared.events import AuditHeadSigned, RecordAccessed
from shared.topics import AUDIT_HEADS
from tests.support.audit_tamper import TAMPERS, Rec
from tests.support.clock import Clock
from tests.support.events import raw

pytestmark = pytest.mark.unit
START = datetime(2026, 3, 1, 5, 0, 0, 123_456, tzinfo=UTC)
CID = "1100700000001"
CHAIN = "access.p0"
N, K = 12, 5


def key() -> OKPKey:
    return OKPKey.generate_key("Ed25519", private=True)


async def filled(n: int = N) -> Deps:
    clock = Clock(START)
    deps = Deps(log=MemoryAuditLog(clock), clock=clock, key=key(), publisher=RecordingPublisher())
    for i in range(n):
        data = {"physician": "12345", "hospital": "11535", "patient": CID, "decision": "permit",
                "categories": ["lab_value"], "time": START.isoformat(), "n": i}  # fmt: skip
        await handlers.record_event(deps, "access", 0, raw(RecordAccessed, CID, data))
    return deps


def memory(deps: Deps) -> MemoryAuditLog:
    assert isinstance(deps.log, MemoryAuditLog)
    return deps.log


def chain_of(deps: Deps) -> list[Rec]:
    found = [r for r in memory(deps).records.values() if r["chain"] == CHAIN]
    return copy.deepcopy(sorted(found, key=lambda r: r["seq"]))


def store(deps: Deps, rs: list[Rec]) -> None:
    log = memory(deps)
    log.records = {k: v for k, v in log.records.items() if v["chain"] != CHAIN}
    log.records.update({r["_id"]: r for r in rs})
    log.chain_tips[CHAIN] = ChainTip(rs[-1]["seq"], rs[-1]["hash"])


def test_a_head_is_a_compact_eddsa_jws_that_only_its_key_verifies() -> None:
    k = key()
    claims = HeadClaims(CHAIN, 3, "ab" * 32, START.isoformat())
    token = sign_head(k, claims)
    header = json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "EdDSA" and header["kid"] == public_jwk(k)["kid"]
    public = read_public_key(json.dumps(public_jwk(k)))
    assert read_head(token, public) == claims
    assert read_head(token, key()) is None
    forged = token.split(".")
    forged[1] = forged[1][:-2] + ("AA" if forged[1][-2:] != "AA" else "BB")
    assert read_head(".".join(forged), public) is None
    assert "d" not in public_jwk(k)


def test_the_key_comes_from_the_environment_or_is_made_once_outside_production(
    tmp_path: Path,
) -> None:
    made = load_signing_key("development", None, None, str(tmp_path))
    again = load_signing_key("development", None, None, str(tmp_path))
    assert public_jwk(made) == public_jwk(again)
    path = tmp_path / "audit" / "head-signing.jwk"
    assert path.stat().st_mode & 0o777 == 0o600
    given = load_signing_key("production", path.read_text(), None, "/nonexistent")
    assert public_jwk(given) == public_jwk(made)
    assert public_jwk(load_signing_key("production", None, str(path), "")) == public_jwk(made)
    with pytest.raises(NoSigningKey):
        load_signing_key("production", None, None, str(tmp_path))


async def test_heads_are_signed_when_a_chain_grows_stored_and_published() -> None:
    deps = await filled()
    assert await handlers.sign_heads(deps) == 1
    assert await handlers.sign_heads(deps) == 0  # no growth, no head
    await handlers.record_event(deps, "access", 0, raw(RecordAccessed, CID, {"patient": CID}))
    assert await handlers.sign_heads(deps) == 1
    publisher = deps.publisher
    assert isinstance(publisher, RecordingPublisher)
    sent = [(t, AuditHeadSigned.of(e)) for t, e in publisher.sent]
    assert [(t, h.tree_size, h.start, len(h.leaves)) for t, h in sent] == [
        (AUDIT_HEADS, N, 0, N),
        (AUDIT_HEADS, N + 1, N, 1),
    ]
    assert deps.key is not None
    heads, refused = verified_heads(await deps.log.heads(), deps.key)
    assert [h.size for h in heads] == [N, N + 1] and refused == 0
    found = await handlers.verify_log(deps)
    assert found.ok and found.heads == {CHAIN: N + 1} and found.unsigned == 0


async def test_a_new_signer_resumes_from_the_stored_heads_and_refuses_a_tampered_chain() -> None:
    deps = await filled()
    await handlers.sign_heads(deps)
    fresh = Deps(log=deps.log, clock=deps.clock, key=deps.key, publisher=deps.publisher)
    await handlers.record_event(fresh, "access", 0, raw(RecordAccessed, CID, {"patient": CID}))
    assert await handlers.sign_heads(fresh) == 1
    store(deps, TAMPERS["rehash-suffix"](chain_of(deps), K))
    third = Deps(log=deps.log, clock=deps.clock, key=deps.key, publisher=deps.publisher)
    await handlers.record_event(third, "access", 0, raw(RecordAccessed, CID, {"patient": CID}))
    assert await handlers.sign_heads(third) == 0
    assert CHAIN in third.signer.halted


@pytest.mark.parametrize("name", sorted(TAMPERS))
async def test_verify_names_the_first_bad_record_after_any_tampering(name: str) -> None:
    deps = await filled()
    await handlers.sign_heads(deps)
    before = await handlers.access_proof(deps, CID)
    assert deps.key is not None and check_proof(before, deps.key).proven == N
    store(deps, TAMPERS[name](chain_of(deps), K))
    found = await handlers.verify_log(deps)
    assert not found.ok
    [breach] = found.breaches
    assert (breach.chain, breach.seq) == (CHAIN, K), breach
    after = check_proof(await handlers.access_proof(deps, CID), deps.key)
    if name != "edit-index":  # an entry moved out of the patient's log is omitted (see docs)
        assert not after.ok, name
    assert check_proof(before, deps.key).ok  # what was proven then stays proven


async def test_a_forged_head_is_ignored_and_a_proof_document_is_checked_offline() -> None:
    deps = await filled()
    await handlers.sign_heads(deps)
    other = key()
    forged = HeadClaims(CHAIN, 2, "00" * 32, START.isoformat())
    await deps.log.add_head({**forged.payload(), "jws": sign_head(other, forged)})
    found = await handlers.verify_log(deps)
    assert found.ok and found.refused_heads == 1
    assert deps.key is not None
    doc = await handlers.access_proof(deps, CID)
    assert check_proof(doc, deps.key).ok
    assert not check_proof(doc, other).ok
    doc["entries"][3]["record"]["body"]["data"]["decision"] = "deny"
    assert not check_proof(doc, deps.key).ok
