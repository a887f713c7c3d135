"""The ingest HTTP gateway (``POST /fhir``) over in-memory fakes: 202 and a receipt, or a
clear 4xx OperationOutcome, never a 500, whatever the headers hold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from services.ingest.handlers import Deps
from shared import topics
from shared.broker import RecordingPublisher
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


def queued(deps: Deps) -> list[tuple[str, bytes, bytes | None, dict[str, str]]]:
    assert isinstance(deps.publisher, RecordingPublisher)
    return deps.publisher.raw


def system(hospital: str = PROVIDER) -> dict[str, str]:
    """The hospital system's SMART Backend Services token (``system/Bundle.c``)."""
    return bearer(system_token(hospital))


def signed(body: bytes, hospital: str = PROVIDER, **extra: str | bytes) -> dict[str, str | bytes]:
    return {
        "hl-hospital": hospital,
        "hl-signature": signature(body, hospital),
        **system(hospital),
        **extra,
    }


def outcome_of(r: httpx.Response, status: int) -> str:
    """The diagnostics of the one issue of an OperationOutcome answered with ``status``."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    (issue,) = body["issue"]
    return str(issue["diagnostics"])


async def test_a_signed_bundle_is_queued_with_its_receipt(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    cid, body = patient_bundle()
    extra = {"hl-upload-id": "up-1", "hl-request-id": "req-7", "x-correlation-id": "corr-1"}
    sent = signed(body, **extra)
    r = await client.post("/fhir", content=body, headers=sent)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == "/fhir/uploads/up-1"
    assert r.json()["id"] == "up-1" and "receipt up-1" in r.json()["issue"][0]["diagnostics"]
    ((topic, value, key, headers),) = queued(deps)
    assert (topic, value, key) == (topics.INGEST_UPLOADS, body, cid.encode())
    assert headers == {
        "hl-hospital": PROVIDER,
        "hl-signature": sent["hl-signature"],  # as it came (ES256 signatures differ each time)
        "hl-upload-id": "up-1",
        "content-type": "application/fhir+json",
        "x-correlation-id": "corr-1",
        "hl-request-id": "req-7",
    }


async def test_without_an_upload_id_the_receipt_is_new(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    _, body = patient_bundle()
    r = await client.post("/fhir", content=body, headers=signed(body))
    assert r.status_code == 202, r.text
    receipt = r.json()["id"]
    assert len(receipt) == 36 and queued(deps)[0][3]["hl-upload-id"] == receipt


async def test_refusals_are_operation_outcomes_with_their_status(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    _, body = patient_bundle()
    _, other = patient_bundle(seed=2)
    no_cid = body.replace(b"th-cid", b"th-xid")
    cases: list[tuple[bytes, dict[str, str | bytes], int, str]] = [
        (body, {"hl-hospital": PROVIDER}, 401, "headers are required"),
        (body, {"hl-signature": signature(body)}, 401, "headers are required"),
        (body, {**signed(body), "hl-signature": signature(other)}, 401, "does not match"),
        (
            body,
            {**signed(body), "hl-signature": signature(body, CONSUMER)},
            401,
            "no signing key '11535-test-1'",
        ),
        (body, {**signed(body), "hl-signature": "sha256=00"}, 401, "not a detached JWS"),
        (body, signed(body, CONSUMER), 403, "not a data provider"),
        (body, signed(body, "99999"), 403, "not a data provider"),
        (b"{not json", signed(b"{not json"), 400, "not valid JSON"),
        (b'{"resourceType": "Patient"}', signed(b'{"resourceType": "Patient"}'), 400, "Bundle"),
        (no_cid, signed(no_cid), 400, "no Patient identifier"),
        (body, signed(body, **{"hl-upload-id": "no spaces"}), 400, "hl-upload-id"),
        (b"x" * 200_001, signed(b"x" * 200_001), 413, "exceeds 200000 bytes"),
    ]
    for content, headers, status, says in cases:
        r = await client.post("/fhir", content=content, headers=headers)
        assert says in outcome_of(r, status), (headers, r.text)
    assert not queued(deps), "nothing refused is queued"


async def test_an_upload_wants_its_hospital_systems_token_beside_the_signature(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    """SMART Backend Services: a token of this hospital's system allowing
    ``system/Bundle.c``; the signature alone is not enough, nor another's token."""
    _, body = patient_bundle()
    sign = {"hl-hospital": PROVIDER, "hl-signature": signature(body)}
    cases: list[tuple[dict[str, str], int, str]] = [
        ({}, 401, f"token of hospital {PROVIDER} is required"),
        (bearer("not-a-token"), 401, "malformed token"),
        (bearer(system_token(PROVIDER, ttl_s=-120)), 401, "token refused"),
        (system(CONSUMER), 403, f"not hospital {PROVIDER}'s"),
        (bearer(system_token(None)), 403, f"not hospital {PROVIDER}'s"),
        (bearer(system_token(PROVIDER, "system/Bundle.rs")), 403, "system/Bundle.c"),
        (bearer(system_token(PROVIDER, "user/*.cruds")), 403, "system/Bundle.c"),
    ]
    for token, status, says in cases:
        r = await client.post("/fhir", content=body, headers={**sign, **token})
        assert says in outcome_of(r, status), (token, r.text)
    assert not queued(deps), "nothing refused is queued"
    r = await client.post("/fhir", content=body, headers={**sign, **system()})
    assert r.status_code == 202, r.text


async def test_a_body_longer_than_it_may_be_is_refused_while_streaming(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 50_000

    body = b"x" * 250_000
    r = await client.post("/fhir", content=chunks(), headers=signed(body))
    assert "exceeds" in outcome_of(r, 413) and not queued(deps)


NOT_TEXT = [
    "sha256=caf\xe9".encode("latin-1"),  # Latin-1, not ASCII
    "sha256=ก".encode(),  # UTF-8 Thai
    b"sha256=\xff\xfe\x80",  # not text at all
    b"\x00\x01\x7f",  # control characters
]


@pytest.mark.parametrize("value", NOT_TEXT)
async def test_a_signature_that_is_not_ascii_is_a_401_not_a_500(
    client: httpx.AsyncClient, deps: Deps, value: bytes
) -> None:
    _, body = patient_bundle()
    headers = {"hl-hospital": PROVIDER, "hl-signature": value, **system()}
    r = await client.post("/fhir", content=body, headers=headers)
    assert "signature is not" in outcome_of(r, 401) and not queued(deps)


@pytest.mark.parametrize("value", NOT_TEXT)
async def test_a_hospital_that_is_not_ascii_is_a_401_not_a_500(
    client: httpx.AsyncClient, deps: Deps, value: bytes
) -> None:
    _, body = patient_bundle()
    headers = {"hl-hospital": value, "hl-signature": signature(body)}
    r = await client.post("/fhir", content=body, headers=headers)
    assert outcome_of(r, 401) and not queued(deps)


@pytest.mark.parametrize("value", NOT_TEXT)
@pytest.mark.parametrize("header", ["hl-upload-id", "hl-request-id"])
async def test_upload_and_request_ids_that_are_not_ascii_are_a_400_not_a_500(
    client: httpx.AsyncClient, deps: Deps, header: str, value: bytes
) -> None:
    _, body = patient_bundle()
    r = await client.post("/fhir", content=body, headers=signed(body, **{header: value}))
    assert header in outcome_of(r, 400) and not queued(deps)


@pytest.mark.parametrize("value", [b"\xb2", b"\xb9\xb2", b"1\xbd", "١٢".encode()])
async def test_a_content_length_that_is_not_ascii_digits_is_never_a_500(
    client: httpx.AsyncClient, deps: Deps, value: bytes
) -> None:
    """``"²".isdigit()`` is true in Python, ``int("²")`` fails: the length must be ASCII."""
    _, body = patient_bundle()
    r = await client.post("/fhir", content=body, headers=signed(body, **{"content-length": value}))
    assert r.status_code < 500, r.text
