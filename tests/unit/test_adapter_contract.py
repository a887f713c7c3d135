"""The hospital adapter package: the wire contract, signatures, data requests, isolation."""

from __future__ import annotations

import ast
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from healthlink_adapter import JwsSigner, KafkaConnection, contract, parse_data_request
from healthlink_adapter.datarequests import DATA_REQUESTED, DATA_REQUESTED_TYPE
from healthlink_adapter.signing import (
    SignatureRefused,
    check_public_jwk,
    new_key,
    public_jwk,
    verify_detached,
)
from healthlink_adapter.uploads import encode, patient_cid, upload_headers

from healthlink.synthetic import make_patient_bundle
from services.consent.consents import data_request
from shared import topics
from shared.broker import max_message_bytes
from shared.events import ConsentGranted, DataRequested, event_type
from shared.settings import Settings
from tests.support.events import raw

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "healthlink-adapter" / "src" / "healthlink_adapter"
KEY = new_key("hospital-key-1")
PUBLIC = [public_jwk(KEY)]
CID = "1101700230708"
ASKED = {"patient": CID, "hospital": "10670", "reason": "consent.granted",
         "time": "2026-11-01T02:00:00+00:00"}  # fmt: skip


def refusal(keys: list[dict[str, object]], body: bytes, signature: object) -> str:
    with pytest.raises(SignatureRefused) as info:
        verify_detached(keys, body, signature)
    return info.value.reason


def test_a_detached_jws_covers_the_exact_body_and_anything_else_is_wrong() -> None:
    signature = JwsSigner(KEY).sign(b"{}")
    header, payload, _ = signature.split(".")
    assert header and payload == "", "RFC 7515 appendix F: the payload is left out"
    assert verify_detached(PUBLIC, b"{}", signature) == "hospital-key-1"
    assert refusal(PUBLIC, b"{ }", signature) == "bad-signature"
    assert refusal([public_jwk(new_key("other"))], b"{}", signature) == "unknown-key"
    assert refusal([public_jwk(new_key("hospital-key-1"))], b"{}", signature) == "bad-signature"
    assert refusal([], b"{}", signature) == "no-signing-key"
    for wrong in (None, "", "sha256=ab", "a.b.c", "é..x", signature + "x" * 3000, b"x"):
        assert refusal(PUBLIC, b"{}", wrong) == "bad-signature"  # never another exception


def test_only_a_public_p256_key_with_a_kid_is_registrable() -> None:
    assert "d" not in check_public_jwk(PUBLIC[0]) and check_public_jwk(PUBLIC[0])["kid"]
    private = KEY.as_dict(private=True) | {"kid": "k"}
    for wrong, why in (
        (private, "private key"),
        ({**PUBLIC[0], "crv": "P-384"}, "P-256"),
        ({k: v for k, v in PUBLIC[0].items() if k != "kid"}, "kid"),
        ({**PUBLIC[0], "x": "AAAA"}, "not a valid public key"),
    ):
        with pytest.raises(ValueError, match=why):
            check_public_jwk(wrong)
    with pytest.raises(ValueError, match="private key is required"):
        JwsSigner(PUBLIC[0])


def test_an_upload_carries_every_contract_header() -> None:
    bundle = make_patient_bundle(random.Random(1), cid=CID, n_resources=3)
    body = encode(bundle)
    headers = upload_headers("10670", "up-1", body, JwsSigner(KEY), request_id="req-1")
    assert headers[contract.HOSPITAL_HEADER] == "10670"
    assert headers[contract.UPLOAD_ID_HEADER] == "up-1"
    assert headers[contract.REQUEST_ID_HEADER] == "req-1"
    assert headers[contract.CONTENT_TYPE_HEADER] == contract.FHIR_JSON
    assert headers[contract.CORRELATION_HEADER]
    assert verify_detached(PUBLIC, body, headers[contract.SIGNATURE_HEADER]) == KEY.kid
    assert patient_cid(bundle) == CID
    unsigned = upload_headers("10670", "up-1", body, None)
    assert contract.SIGNATURE_HEADER not in unsigned and contract.REQUEST_ID_HEADER not in unsigned


def test_what_the_consent_service_publishes_is_what_a_hospital_reads() -> None:
    now = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    event = data_request(CID, "10670", "consent.granted", "datareq-1", now)
    assert event.type == DATA_REQUESTED_TYPE == event_type(DATA_REQUESTED) == DataRequested.TYPE
    request = parse_data_request(event.model_dump_json().encode())
    assert request is not None
    assert (request.id, request.hospital, request.patient) == ("datareq-1", "10670", CID)
    assert (request.reason, request.time) == ("consent.granted", now)


def asking(**changes: str) -> bytes:
    """A data request whose payload differs from a valid one by ``changes``."""
    return raw(DataRequested, "10670", {**ASKED, **changes}).model_dump_json().encode()


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"not json",
        b"{}",
        raw(ConsentGranted, CID, {}).model_dump_json().encode(),
        asking(patient="1101700230709"),
        asking(hospital="1067"),
        asking(time="2026-11-01T02:00"),
    ],
    ids=["empty", "not-json", "no-envelope", "other-type", "bad-cid", "bad-hospital", "naive-time"],
)  # fmt: skip
def test_anything_but_a_valid_data_request_is_skipped(value: bytes) -> None:
    assert parse_data_request(value) is None


def test_unknown_payload_fields_are_ignored_so_the_platform_may_add_some() -> None:
    event = raw(DataRequested, "10670", {**ASKED, "priority": "high"})
    request = parse_data_request(event.model_dump_json().encode())
    assert request is not None and request.patient == CID and request.reason == "consent.granted"


def test_kafka_connection_options() -> None:
    assert KafkaConnection("h:9092").client_options() == {
        "bootstrap_servers": "h:9092",
        "security_protocol": "PLAINTEXT",
    }
    sasl = KafkaConnection(
        "h:9093", "SASL_SSL", "SCRAM-SHA-512", "hospital-10670", "pw"
    ).client_options()
    assert sasl["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (sasl["sasl_plain_username"], sasl["sasl_plain_password"]) == ("hospital-10670", "pw")
    assert sasl["ssl_context"] is not None
    with pytest.raises(ValueError, match="SASL"):
        KafkaConnection("h:9093", "SASL_SSL").client_options()


def test_the_platform_takes_its_wire_constants_from_the_package() -> None:
    assert topics.INGEST_UPLOADS == contract.UPLOADS
    assert topics.DATA_REQUESTS == contract.DATA_REQUESTS
    settings = Settings()
    assert settings.max_bundle_bytes == contract.MAX_UPLOAD_BYTES
    assert max_message_bytes(settings) == contract.record_limit(contract.MAX_UPLOAD_BYTES)
    assert contract.data_requests_topic("10670", "t.") == f"t.{contract.DATA_REQUESTS}.10670"
    assert contract.consumer_group("10670", "t.") == "t.hospital-10670"


CONTRACT_LITERALS = (
    contract.UPLOADS,
    contract.DATA_REQUESTS,
    contract.HOSPITAL_HEADER,
    contract.SIGNATURE_HEADER,
    contract.UPLOAD_ID_HEADER,
    contract.REQUEST_ID_HEADER,
    contract.CORRELATION_HEADER,
    contract.FHIR_JSON,
    contract.CID_SYSTEM,
    contract.HCODE_SYSTEM,
    DATA_REQUESTED,
)


def string_constants(path: Path) -> set[str]:
    """Every string literal in a module, docstrings excluded."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


def test_no_platform_module_defines_the_wire_contract_again() -> None:
    found = {}
    for folder in ("shared", "services", "healthlink", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            again = sorted(string_constants(path).intersection(CONTRACT_LITERALS))
            if again:
                found[str(path.relative_to(ROOT))] = again
    assert found == {}, "import these from healthlink_adapter.contract instead"


FORBIDDEN = {"shared", "services", "healthlink", "bench", "fastapi", "starlette", "pymongo",
             "fhir", "fhir_core", "faststream", "argon2", "uvicorn", "typer"}  # fmt: skip


def test_the_package_imports_nothing_of_the_platform() -> None:
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            assert not {n.split(".")[0] for n in names} & FORBIDDEN, (path.name, names)
    # What it pulls in at run time, installed alone: tests/integration/test_adapter_package.py
