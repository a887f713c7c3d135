"""Ingest use cases against in-memory fakes: stored once, or set aside with a reason."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from healthlink_adapter.signing import JwsSigner, new_key, public_jwk

from healthlink.synthetic import make_patient_bundle, synthea_like_bundle
from services.ingest import subscribers
from services.ingest.bundle import parse_bundle
from services.ingest.documents import stored_events, to_documents
from services.ingest.domain import may_send
from services.ingest.handlers import Deps
from services.ingest.repository import KnownRanks, MemoryHeldUploads, MemoryRecords
from shared import topics
from shared.broker import RecordingPublisher
from shared.cid import random_cid
from shared.coverage import ConsentState, HospitalState, SigningKey
from shared.deadletter import SourceMessage
from shared.errors import Rejected
from shared.events import (
    ConsentGranted,
    Envelope,
    HospitalCredentialsChanged,
    HospitalRegistered,
    PatientRegistered,
)
from shared.projections import Consent
from tests.support.credentials import credentialed, signer
from tests.support.events import envelope
from tests.support.ingest import PROVIDER, memory_deps

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
SOURCE_CODE = PROVIDER


@pytest.fixture
async def deps() -> Deps:
    return await memory_deps(lambda: NOW)


def consent_event(cid: str, version: int, hospitals: list[str], **extra: Any) -> Envelope:
    state = ConsentState.model_validate({"hospitals": hospitals, **extra})
    return envelope(ConsentGranted(version=version, state=state), cid)


def upload(
    doc: dict[str, Any] | bytes,
    hospital: str = SOURCE_CODE,
    *,
    key: str | None = None,
    upload_id: str = "u-1",
    extra: dict[str, str] | None = None,
) -> SourceMessage:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    headers = {
        "hl-hospital": hospital,
        "hl-signature": signer(key or hospital).sign(body),
        "hl-upload-id": upload_id,
        **(extra or {}),
    }
    return SourceMessage("uploads", 0, 0, None, body, headers)


async def consented(deps: Deps, cid: str, codes: list[str] | None = None) -> None:
    await subscribers.on_consent_event(deps, consent_event(cid, 1, codes or [SOURCE_CODE]))


def bundle(seed: int = 1, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    rng = random.Random(seed)
    cid = random_cid(rng)
    return cid, make_patient_bundle(rng, cid=cid, hospital_code=SOURCE_CODE, **kwargs)


def records_of(deps: Deps) -> dict[str, dict[str, Any]]:
    """The stored records by id."""
    assert isinstance(deps.records, MemoryRecords)
    return deps.records.docs


def writes(deps: Deps) -> int:
    assert isinstance(deps.records, MemoryRecords)
    return deps.records.writes


def held_of(deps: Deps) -> dict[str, dict[str, Any]]:
    """The held uploads by upload id."""
    assert isinstance(deps.held, MemoryHeldUploads)
    return deps.held.docs


def published(deps: Deps, topic: str) -> list[Envelope]:
    assert isinstance(deps.publisher, RecordingPublisher)
    return [e for t, e in deps.publisher.sent if t == topic]


def received(deps: Deps) -> list[Envelope]:
    return published(deps, topics.INGEST_RECORDS)


async def rejected(deps: Deps, source: SourceMessage) -> str:
    with pytest.raises(Rejected) as info:
        await subscribers.on_upload(deps, source)
    assert not records_of(deps), "nothing from a refused upload is stored"
    return info.value.code


async def test_valid_bundle_stored_once_even_when_delivered_twice(deps: Deps) -> None:
    cid, doc = bundle(n_resources=20, sensitive_fraction=0.0)
    await consented(deps, cid)
    source = upload(doc)
    await subscribers.on_upload(deps, source)
    await subscribers.on_upload(deps, source)
    assert len(records_of(deps)) == 20 and writes(deps) == 20
    assert {d["patient"] for d in records_of(deps).values()} == {cid}
    events = received(deps)
    assert len(events) == 2 and events[0].id == events[1].id == "records-u-1"
    assert events[0].data["written"] == 20 and events[1].data["written"] == 0
    assert sum(events[0].data["counts"].values()) == 19  # all but the Patient


async def test_older_version_never_overwrites_newer(deps: Deps) -> None:
    cid, newer = bundle(seed=3, version=2, updated="2026-11-02T09:00:00+07:00")
    _, older = bundle(seed=3, version=1, updated="2026-11-01T09:00:00+07:00")
    await consented(deps, cid)
    await subscribers.on_upload(deps, upload(newer, upload_id="new"))
    await subscribers.on_upload(deps, upload(older, upload_id="old"))
    versions = {
        json.loads(d["resource_json"])["meta"]["versionId"] for d in records_of(deps).values()
    }
    assert versions == {"2"}
    assert received(deps)[1].data["written"] == 0


async def test_newer_version_replaces_older(deps: Deps) -> None:
    cid, older = bundle(seed=4, version=1)
    _, newer = bundle(seed=4, version=2, updated="2026-11-03T09:00:00+07:00")
    await consented(deps, cid)
    await subscribers.on_upload(deps, upload(older, upload_id="a"))
    await subscribers.on_upload(deps, upload(newer, upload_id="b"))
    records = records_of(deps).values()
    assert {json.loads(d["resource_json"])["meta"]["versionId"] for d in records} == {"2"}
    assert {d["upload_id"] for d in records} == {"b"}


async def test_forged_signature_refused(deps: Deps) -> None:
    cid, doc = bundle()
    await consented(deps, cid)
    assert await rejected(deps, upload(doc, key="13781")) == "unknown-key"  # another's key
    forger = JwsSigner(new_key(signer(PROVIDER).kid))  # the provider's kid, another key
    source = upload(doc)
    source.headers["hl-signature"] = forger.sign(source.value)
    assert await rejected(deps, source) == "bad-signature"


async def rotate(deps: Deps, version: int, *keys: JwsSigner) -> None:
    """The provider's hospital event with these public keys (its new version)."""
    state = credentialed(HospitalState(code=PROVIDER, name=PROVIDER, role="provider"))
    state = state.model_copy(
        update={"signing_keys": tuple(SigningKey.model_validate(public_jwk(k.key)) for k in keys)}
    )
    await subscribers.on_hospital_event(
        deps, envelope(HospitalCredentialsChanged(version=version, state=state), PROVIDER)
    )


async def test_a_rotated_key_signs_from_the_next_upload_and_a_removed_one_no_more(
    deps: Deps,
) -> None:
    cid, doc = bundle(n_resources=5)
    await consented(deps, cid)
    old, new = signer(PROVIDER), JwsSigner(new_key("10670-new"))
    with_new = upload(doc, upload_id="new")
    with_new.headers["hl-signature"] = new.sign(with_new.value)
    assert await rejected(deps, with_new) == "unknown-key", "not registered yet"
    await rotate(deps, 2, old, new)  # both for a while
    await subscribers.on_upload(deps, upload(doc, upload_id="old"))
    await subscribers.on_upload(deps, with_new)
    await rotate(deps, 3, new)  # the old one removed
    for source, reason in ((upload(doc, upload_id="late"), "unknown-key"), (with_new, None)):
        await rotate(deps, 4 if reason is None else 3)  # last: no key at all
        with pytest.raises(Rejected) as info:
            await subscribers.on_upload(deps, source)
        assert info.value.code == (reason or "no-signing-key")
    assert [e.data["upload_id"] for e in received(deps)] == ["old", "new"]
    refused = await deps.receipts.find(PROVIDER, "late")
    assert refused is None, "nobody proved they sent it: no receipt"


async def test_body_changed_after_signing_refused(deps: Deps) -> None:
    cid, doc = bundle()
    await consented(deps, cid)
    source = upload(doc)
    tampered = SourceMessage("uploads", 0, 0, None, source.value + b" ", source.headers)
    assert await rejected(deps, tampered) == "bad-signature"


async def test_unsigned_refused(deps: Deps) -> None:
    _, doc = bundle()
    source = upload(doc)
    headers = {k: v for k, v in source.headers.items() if k != "hl-signature"}
    assert await rejected(deps, SourceMessage("u", 0, 0, None, source.value, headers)) == (
        "unsigned"
    )


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("hl-signature", "sha256=ก"),  # UTF-8 text, not ASCII
        ("hl-signature", "sha256=\ufffd\x00"),  # what is left of bytes that were not text
        ("hl-hospital", "1067ก"),
    ],
)
async def test_a_header_that_is_not_ascii_is_a_bad_signature(
    deps: Deps, header: str, value: str
) -> None:
    cid, doc = bundle()
    await consented(deps, cid)
    source = upload(doc)
    headers = {**source.headers, header: value}
    assert await rejected(deps, SourceMessage("u", 0, 0, None, source.value, headers)) == (
        "bad-signature"
    )


async def test_not_a_provider_refused_before_bundle_checks(deps: Deps) -> None:
    assert await rejected(deps, upload(b"{not json", "11535")) == "not-a-provider"


def hospital_event(code: str, role: str, version: int = 1) -> Envelope:
    state = HospitalState(code=code, name="New Hospital", role=role)  # type: ignore[arg-type]
    return envelope(HospitalRegistered(version=version, state=credentialed(state)), code)


async def test_upload_from_a_hospital_not_yet_known_is_held_until_it_joins(deps: Deps) -> None:
    """Across topics Kafka keeps no order: an upload may overtake its hospital's event."""
    rng = random.Random(5)
    cid = random_cid(rng)
    doc = make_patient_bundle(rng, cid=cid, hospital_code="99999")
    await consented(deps, cid, ["99999"])
    assert await rejected(deps, upload(doc, "99999", upload_id="early")) == "not-a-provider"
    assert list(held_of(deps)) == ["early"]
    await subscribers.on_hospital_event(deps, hospital_event("99999", "consumer"))
    assert held_of(deps) and not records_of(deps), "a consumer never sends"
    await subscribers.on_hospital_event(deps, hospital_event("99999", "provider", version=2))
    assert not held_of(deps) and len(records_of(deps)) == 20


async def test_an_upload_held_before_its_hospital_was_known_is_checked_when_it_joins(
    deps: Deps,
) -> None:
    """Unknown yet: held unverified, no receipt; once known, signed by another key: let go
    (it is on the dead-letter topic already), never stored."""
    rng = random.Random(6)
    cid = random_cid(rng)
    doc = make_patient_bundle(rng, cid=cid, hospital_code="99998")
    await consented(deps, cid, ["99998"])
    forged = upload(doc, "99998", upload_id="early-forged")
    forged.headers["hl-signature"] = JwsSigner(new_key(signer("99998").kid)).sign(forged.value)
    assert await rejected(deps, forged) == "not-a-provider"
    assert list(held_of(deps)) == ["early-forged"]
    assert await deps.receipts.find("99998", "early-forged") is None, "nobody proved it"
    await subscribers.on_hospital_event(deps, hospital_event("99998", "provider"))
    assert not held_of(deps) and not records_of(deps)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed-json"),
        (b'{"resourceType": "Patient"}', "not-a-bundle"),
        (b'{"resourceType": "Bundle", "type": "collection", "entry": []}', "empty-bundle"),
        (b"x" * 200_001, "oversized"),
    ],
)
async def test_bad_bodies_set_aside_with_reason(deps: Deps, body: bytes, reason: str) -> None:
    assert await rejected(deps, upload(body)) == reason


async def test_no_cid_set_aside(deps: Deps) -> None:
    _, doc = bundle()
    patient = doc["entry"][0]["resource"]
    patient["identifier"] = [i for i in patient["identifier"] if "th-cid" not in i["system"]]
    assert await rejected(deps, upload(doc)) == "no-cid"


async def test_invalid_resource_set_aside(deps: Deps) -> None:
    cid, doc = bundle()
    await consented(deps, cid)
    doc["entry"][3]["resource"]["status"] = {"not": "a code"}
    assert await rejected(deps, upload(doc)) == "invalid-resource"


async def test_no_consent_held_then_released_when_consent_arrives(deps: Deps) -> None:
    cid, doc = bundle(seed=8)
    source = upload(doc, upload_id="held-1")
    assert await rejected(deps, source) == "no-consent"
    assert list(held_of(deps)) == ["held-1"]
    await consented(deps, cid)
    assert not held_of(deps)
    assert len(records_of(deps)) == 20
    # The operator's retry of the dead letter afterwards changes nothing.
    await subscribers.on_upload(deps, source)
    assert len(records_of(deps)) == 20 and writes(deps) == 20
    assert [e.id for e in received(deps)] == ["records-held-1"] * 2


async def test_consent_for_another_hospital_does_not_release(deps: Deps) -> None:
    cid, doc = bundle(seed=9)
    assert await rejected(deps, upload(doc)) == "no-consent"
    await consented(deps, cid, ["13781"])
    assert held_of(deps) and not records_of(deps)


async def test_events_without_state_ignored(deps: Deps) -> None:
    cid, _ = bundle()
    registered = PatientRegistered(cid=cid, birth_date=date(1990, 1, 1), registered_at=NOW)
    event = envelope(registered, cid)
    await subscribers.on_consent_event(deps, event)
    assert await deps.view.consent(cid) is None


async def test_counts_sensitive_and_echoes_request_id(deps: Deps) -> None:
    cid, doc = bundle(seed=5, n_resources=30, sensitive_fraction=0.5)
    await consented(deps, cid)
    await subscribers.on_upload(deps, upload(doc, extra={"hl-request-id": "req-7"}))
    data = received(deps)[0].data
    sensitive = sum(d["sensitive"] for d in records_of(deps).values())
    assert sensitive > 0 and data["counts"]["sensitive"] == sensitive
    assert data["request_id"] == "req-7"


async def test_synthea_like_bundle_skips_claims(deps: Deps) -> None:
    rng = random.Random(12)
    cid = random_cid(rng)
    await consented(deps, cid)
    await subscribers.on_upload(deps, upload(synthea_like_bundle(rng, cid)))
    data = received(deps)[0].data
    assert data["skipped"] == {"Claim": 1, "ExplanationOfBenefit": 1}
    types = {d["type"] for d in records_of(deps).values()}
    assert {"Patient", "Organization", "Practitioner", "MedicationRequest"} <= types
    enc = next(d for d in records_of(deps).values() if d["type"] == "Condition")
    assert json.loads(enc["resource_json"])["subject"]["reference"].startswith("Patient/")


def test_gate_is_standing_or_live_per_visit_consent() -> None:
    assert not may_send(None, SOURCE_CODE, NOW)
    until = (NOW + timedelta(hours=1)).isoformat()
    visit = {"id": "v1", "requesting_hospital": "11535", "sources": [SOURCE_CODE],
             "until": until, "revoked": False}  # fmt: skip
    state = {"all_hospitals": False, "hospitals": [], "allow_sensitive": False,
             "per_visit": [visit]}  # fmt: skip
    real = Consent.from_doc({"_id": "c", "version": 1, "state": state})
    assert may_send(real, SOURCE_CODE, NOW)
    assert not may_send(real, SOURCE_CODE, NOW + timedelta(hours=2))
    assert not may_send(real, "13781", NOW)


# --- batches ------------------------------------------------------------------------------


def stored(deps: Deps) -> list[Envelope]:
    return published(deps, topics.INGEST_STORED)


async def test_a_batch_stores_the_good_uploads_and_refuses_the_rest_each_alone(
    deps: Deps,
) -> None:
    cid_a, doc_a = bundle(seed=21, n_resources=10)
    cid_b, doc_b = bundle(seed=22, n_resources=12)
    cid_c, doc_c = bundle(seed=23, n_resources=5)
    await consented(deps, cid_a)
    await consented(deps, cid_b)  # cid_c has no consent
    batch = [
        upload(doc_a, upload_id="a"),
        upload(doc_b, key="13781", upload_id="forged"),  # another hospital's key
        upload(doc_c, upload_id="c"),
        upload(b"{not json", upload_id="junk"),
        upload(doc_b, upload_id="b"),
    ]
    outcomes = await subscribers.on_uploads(deps, batch)
    codes = [getattr(o, "code", None) for o in outcomes]
    assert codes == [None, "unknown-key", "no-consent", "malformed-json", None]
    records = records_of(deps).values()
    assert {d["patient"] for d in records} == {cid_a, cid_b}
    assert len(records) == 10 + 12
    assert [e.data["upload_id"] for e in received(deps)] == ["a", "b"]
    assert [e.data["written"] for e in received(deps)] == [10, 12]
    assert await deps.held.held_for(cid_c), "the unconsented upload is held for later"


async def test_one_resource_twice_in_a_batch_is_written_once_the_newest(deps: Deps) -> None:
    cid, older = bundle(seed=5, n_resources=8, version=1)
    _, newer = bundle(seed=5, n_resources=8, version=2, updated="2026-11-03T09:00:00+07:00")
    await consented(deps, cid)
    outcomes = await subscribers.on_uploads(
        deps, [upload(newer, upload_id="new"), upload(older, upload_id="old")]
    )
    assert outcomes == [None, None]
    records = records_of(deps).values()
    assert len(records) == 8 and writes(deps) == 8
    assert {json.loads(d["resource_json"])["meta"]["versionId"] for d in records} == {"2"}
    assert [e.data["written"] for e in received(deps)] == [8, 0]


async def test_every_stored_upload_is_announced_resource_by_resource(deps: Deps) -> None:
    cid, doc = bundle(seed=6, n_resources=15)
    await consented(deps, cid)
    source = upload(doc, upload_id="u-9")
    await subscribers.on_upload(deps, source)
    await subscribers.on_upload(deps, source)  # redelivered: announced again, same ids
    events = stored(deps)
    assert [e.id for e in events] == ["stored-u-9-0", "stored-u-9-0"]
    records = events[0].data["records"]
    assert {r["resource_id"] for r in records} == {
        d["_id"].rsplit("/", 1)[1] for d in records_of(deps).values()
    }
    assert all(r["rank"] and r["resource_json"] for r in records)


def test_large_uploads_are_announced_in_parts() -> None:
    rng = random.Random(8)
    cid = random_cid(rng)
    doc = make_patient_bundle(rng, cid=cid, hospital_code=SOURCE_CODE, n_resources=1200)
    parsed = parse_bundle(json.dumps(doc).encode(), max_bytes=10_000_000)
    docs = to_documents(parsed, SOURCE_CODE, "big", NOW).docs
    parts = stored_events(cid, SOURCE_CODE, "big", docs)
    assert len(parts) > 1
    assert [e.data["part"] for e in parts] == list(range(len(parts)))
    assert all(e.data["parts"] == len(parts) for e in parts)
    assert sum(len(e.data["records"]) for e in parts) == len(docs)
    assert all(len(e.model_dump_json()) < 1_000_000 for e in parts)


def test_known_ranks_skip_what_cannot_land_and_stay_bounded() -> None:
    known = KnownRanks(size=2)
    v1 = {"_id": "h/Patient/1", "rank": "2026-01-01|000000000001"}
    v2 = {"_id": "h/Patient/1", "rank": "2026-02-01|000000000002"}
    assert not known.stale(v1)
    known.saw(v2)
    assert known.stale(v1) and known.stale(v2), "same or older than stored: cannot land"
    known.saw(v1)  # learning an older version never lowers what is known
    assert known.stale(v2)
    known.saw({"_id": "a", "rank": "1"})
    known.saw({"_id": "b", "rank": "1"})
    assert not known.stale(v2), "the oldest id is forgotten past the bound"
