"""The query HTTP API over in-memory fakes (``create_app(settings, deps=fakes)``, the
lifespan never entered, so nothing connects): statuses, OperationOutcomes, FHIR shapes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.auth.keys import SigningKeys, new_key
from services.query import physicians
from services.query.app import create_app
from services.query.errors import ChartsBehind
from shared.auth import TokenVerifier
from shared.events import RecordAccessed, StoredRecord
from shared.fhir import FHIR_JSON
from tests.support.credentials import admin_key
from tests.support.query_fakes import (
    CID,
    LICENCE,
    PIN,
    READER,
    SOURCE_A,
    World,
    observation,
    stored,
)
from tests.support.searchsets import limits_of, records_of

pytestmark = pytest.mark.unit
OPERATOR = {"authorization": "Bearer op-token"}


@pytest.fixture
async def world() -> World:
    world = World()
    for code in (SOURCE_A, READER):
        await world.hospital(code)
    await world.consent(hospitals=[SOURCE_A])
    await world.store(stored(SOURCE_A, observation("a1", day=1), observation("a2", day=2)))
    return world


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(world.settings, deps=world.deps)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


def staff(code: str, world: World) -> dict[str, str]:
    return {"authorization": f"Bearer {admin_key(code)}"}


async def signed_in(client: httpx.AsyncClient, world: World) -> dict[str, str]:
    r = await client.post(
        "/registry/licences",
        headers=OPERATOR,
        json={"licence": LICENCE, "name": "Dr Somchai", "pin": PIN},
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/hospitals/{READER}/physicians", headers=staff(READER, world), json={"licence": LICENCE}
    )
    assert r.status_code == 201 and r.json()["physicians"] == [LICENCE], r.text
    r = await client.post("/auth/token", json={"licence": LICENCE, "pin": PIN, "hospital": READER})
    assert r.status_code == 200, r.text
    return {"authorization": f"Bearer {r.json()['access_token']}"}


async def test_a_signed_in_physician_reads_fhir(client: httpx.AsyncClient, world: World) -> None:
    me = await signed_in(client, world)
    r = await client.get(f"/fhir/Patient/{CID}/$everything", headers=me)
    assert r.status_code == 200 and r.headers["content-type"].startswith(FHIR_JSON)
    bundle = r.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert [e["resource"]["id"] for e in records_of(bundle)] == ["a2", "a1"]
    assert bundle["total"] == 2  # the matches only, not the limits' entry
    assert limits_of(bundle) == ["chosen-hospitals", "sensitive-not-shared"]
    r = await client.get("/fhir/Observation", params={"patient": CID, "_count": 1}, headers=me)
    assert r.status_code == 200 and len(records_of(r.json())) == 1
    assert limits_of(r.json()) == ["chosen-hospitals", "sensitive-not-shared"]
    r = await client.get(f"/patients/{CID}/summary", headers=me)
    assert r.status_code == 200 and r.json()["total"] == 2
    assert [e.data["decision"] for e in world.published.of(RecordAccessed)] == ["permit"] * 3


class Behind:
    """Charts that have not merged what was stored before the read (projector far behind)."""

    async def settle(self, cid: str) -> None:
        raise ChartsBehind("charts are 3 stored batches behind; try again shortly")


async def test_a_read_the_charts_cannot_serve_whole_yet_answers_503(
    client: httpx.AsyncClient, world: World
) -> None:
    me = await signed_in(client, world)
    world.deps.freshness = Behind()
    for url in (f"/fhir/Patient/{CID}/$everything", f"/patients/{CID}/summary"):
        r = await client.get(url, headers=me)
        assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
        assert r.json()["issue"][0]["code"] == "transient"
        assert "behind" in r.json()["issue"][0]["diagnostics"]
    # never fewer records than were stored: the refusal is audited as one
    decisions = [e.data["decision"] for e in world.published.of(RecordAccessed)]
    assert decisions == ["deny", "deny"]


class Stuck:
    """A barrier that never settles (the broker hangs)."""

    async def settle(self, cid: str) -> None:
        await asyncio.Event().wait()


async def test_a_refusal_does_not_wait_for_the_charts(
    client: httpx.AsyncClient, world: World
) -> None:
    """A revoked consent answers 403 from the facts alone: the read barrier and the chart
    index are not awaited for a read the rules refuse (revocation-to-enforcement)."""
    me = await signed_in(client, world)
    await world.consent(hospitals=[])
    world.deps.freshness = Stuck()
    r = await asyncio.wait_for(client.get(f"/fhir/Patient/{CID}/$everything", headers=me), 5)
    assert r.status_code == 403, r.text
    assert [e.data["decision"] for e in world.published.of(RecordAccessed)] == ["deny"]


async def test_bad_requests_get_a_clear_4xx(client: httpx.AsyncClient, world: World) -> None:
    me = await signed_in(client, world)
    cases = [
        ("post", "/registry/licences", {"licence": "1", "name": "x", "pin": "1234"}, None, 400),
        ("post", "/registry/licences", {"licence": "123", "name": "x", "pin": "1234"}, {}, 401),
        ("get", f"/hospitals/{READER}/physicians", None, staff(SOURCE_A, world), 401),
        ("post", f"/hospitals/{READER}/physicians", {"licence": "999"}, staff(READER, world), 404),
        ("post", "/auth/token", {"licence": LICENCE, "pin": "0", "hospital": READER}, {}, 401),
        ("get", f"/fhir/Patient/{CID}/$everything", None, {}, 401),
        ("get", "/fhir/Patient/1234567890123/$everything", None, me, 400),
        ("get", f"/fhir/Patient/{CID}/$everything?_count=5000", None, me, 400),
        ("get", "/fhir/Observation", None, me, 400),
        ("get", f"/fhir/Spaceship?patient={CID}", None, me, 404),
        ("post", f"/patients/{CID}/break-glass", {"reason": "short"}, me, 400),
    ]
    for method, url, body, headers, status in cases:
        headers = OPERATOR if headers is None else headers
        r = await client.request(method, url, json=body, headers=headers)
        assert r.status_code == status, (url, r.text)
        assert r.json()["resourceType"] == "OperationOutcome", r.text


async def test_unauthenticated_reads_leave_the_access_log_alone(
    client: httpx.AsyncClient, world: World
) -> None:
    """Issue 12: 10 reads without a valid token added 10 entries to the patient's "who
    viewed my record"; now they are refused and publish no access event."""
    bad = [{}, {"authorization": "Bearer forged"}, {"authorization": "Bearer é✓".encode()}]
    for _ in range(4):
        for headers in bad:
            r = await client.get(f"/fhir/Patient/{CID}/$everything", headers=headers)
            assert r.status_code == 401, r.text
            r = await client.get(f"/patients/{CID}/summary", headers=headers)
            assert r.status_code == 401, r.text
    assert world.published.of(RecordAccessed) == []
    me = await signed_in(client, world)
    await client.get(f"/fhir/Patient/{CID}/$everything", headers=me)
    assert len(world.published.of(RecordAccessed)) == 1  # a real access is still audited


async def test_parallel_wrong_pins_get_at_most_the_allowed_checks(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: 100 parallel sign-ins with wrong PINs: at most the allowed number of
    PINs are checked, the rest are locked out (429), none is a 500, and the right PIN
    afterwards gets no token."""
    await signed_in(client, world)
    checked = []
    real = physicians.pin_matches

    def counting(pin_hash: str | None, pin: str) -> bool:
        checked.append(pin)
        return real(pin_hash, pin)

    monkeypatch.setattr(physicians, "pin_matches", counting)
    wrong = [{"licence": LICENCE, "pin": f"{9000 + i}", "hospital": READER} for i in range(100)]
    answers = await asyncio.gather(*(client.post("/auth/token", json=w) for w in wrong))
    statuses = Counter(r.status_code for r in answers)
    allowed = world.settings.max_sign_in_failures
    assert len(checked) <= allowed, f"{len(checked)} PINs checked"
    assert statuses[401] == len(checked) and statuses[429] == 100 - len(checked), statuses
    right = {"licence": LICENCE, "pin": PIN, "hospital": READER}
    assert (await client.post("/auth/token", json=right)).status_code == 429


async def test_break_glass_and_roster_removal(client: httpx.AsyncClient, world: World) -> None:
    me = await signed_in(client, world)
    body = {"reason": "unconscious on arrival, no relatives"}
    r = await client.post(f"/patients/{CID}/break-glass", json=body, headers=me)
    assert r.status_code == 201 and r.json()["hospital"] == READER, r.text
    r = await client.delete(
        f"/hospitals/{READER}/physicians/{LICENCE}", headers=staff(READER, world)
    )
    assert r.status_code == 200 and r.json()["physicians"] == []
    r = await client.get(f"/fhir/Patient/{CID}/$everything", headers=me)
    assert r.status_code == 403 and "roster" in r.json()["issue"][0]["diagnostics"]


async def test_metadata_is_a_capability_statement(client: httpx.AsyncClient) -> None:
    r = await client.get("/fhir/metadata")
    assert r.status_code == 200 and r.json()["resourceType"] == "CapabilityStatement"


def smart_token(world: World, keys: SigningKeys, scope: str, **extra: Any) -> dict[str, str]:
    """An access token as the auth service signs it (RFC 9068) for a physician."""
    now = int(time.time())
    claims = {
        "iss": world.settings.issuer,
        "aud": world.settings.fhir_base,
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "sub": f"physician:{LICENCE}",
        "client_id": "bedside-app",
        "scope": scope,
        "fhirUser": f"Practitioner/{LICENCE}",
        "hospital": READER,
        **extra,
    }
    return {"authorization": f"Bearer {keys.sign(claims, 'at+jwt')}"}


async def test_smart_access_tokens_read_what_their_scopes_allow(
    client: httpx.AsyncClient, world: World
) -> None:
    await signed_in(client, world)  # the licence is on the reading hospital's roster
    keys = SigningKeys([new_key()])
    world.deps.verifier = TokenVerifier(
        issuer=world.settings.issuer, audience=world.settings.fhir_base, jwks=keys.public_jwks()
    )
    condition = StoredRecord(
        type="Condition",
        resource_id="c1",
        resource_json='{"resourceType":"Condition","id":"c1"}',
        category="diagnosis",
        date="2026-01-03",
        rank="1",
    )
    await world.store(stored(SOURCE_A, condition, upload="u2"))
    everything = f"/fhir/Patient/{CID}/$everything"

    def ids(r: httpx.Response) -> set[str]:
        assert r.status_code == 200, r.text
        return {e["resource"]["id"] for e in records_of(r.json())}

    every_type = smart_token(world, keys, "openid fhirUser user/*.rs")
    assert ids(await client.get(everything, headers=every_type)) == {"a1", "a2", "c1"}
    labs = smart_token(world, keys, "user/Observation.rs")
    assert ids(await client.get(everything, headers=labs)) == {"a1", "a2"}
    assert ids(await client.get(f"/fhir/Observation?patient={CID}", headers=labs)) == {"a1", "a2"}
    r = await client.get(f"/fhir/Condition?patient={CID}", headers=labs)
    assert r.status_code == 403 and "scopes" in r.text
    assert (await client.get("/fhir/Condition/c1", headers=labs)).status_code == 403
    refused = [
        smart_token(world, keys, "user/*.rs", aud="https://elsewhere/fhir"),
        smart_token(world, keys, "system/*.rs", fhirUser="", hospital=""),  # a system
        smart_token(world, SigningKeys([new_key()]), "user/*.rs"),  # a key auth never had
    ]
    for headers in refused:
        r = await client.get(everything, headers=headers)
        assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome", r.text
    stranger = smart_token(world, keys, "user/*.rs", fhirUser="Practitioner/99999")
    assert (await client.get(everything, headers=stranger)).status_code == 403  # not on roster


async def test_a_launched_app_reads_its_patient_with_patient_scopes(
    client: httpx.AsyncClient, world: World
) -> None:
    await signed_in(client, world)
    keys = SigningKeys([new_key()])
    world.deps.verifier = TokenVerifier(
        issuer=world.settings.issuer, audience=world.settings.fhir_base, jwks=keys.public_jwks()
    )
    everything = f"/fhir/Patient/{CID}/$everything"
    launched = smart_token(world, keys, "launch/patient patient/*.rs", patient=CID)
    r = await client.get(everything, headers=launched)
    assert r.status_code == 200 and r.json()["total"] == 2, r.text
    other = smart_token(world, keys, "launch/patient patient/*.rs", patient="1101700203451")
    r = await client.get(everything, headers=other)  # patient scopes bind to the launch
    assert r.status_code == 403 and "do not cover this patient" in r.text, r.text


async def test_a_patient_reads_their_own_record_whole(
    client: httpx.AsyncClient, world: World
) -> None:
    keys = SigningKeys([new_key()])
    world.deps.verifier = TokenVerifier(
        issuer=world.settings.issuer, audience=world.settings.fhir_base, jwks=keys.public_jwks()
    )
    # sensitive, from a hospital the patient never let share: still theirs to see
    await world.store(stored("13781", observation("s1", day=5, sensitive=True), upload="u3"))
    own = {"sub": f"patient:{CID}", "fhirUser": f"Patient/{CID}", "patient": CID, "hospital": ""}
    mine = smart_token(world, keys, "openid fhirUser patient/*.rs", **own)
    r = await client.get(f"/fhir/Patient/{CID}/$everything", headers=mine)
    assert r.status_code == 200, r.text
    assert {e["resource"]["id"] for e in r.json()["entry"]} == {"a1", "a2", "s1"}
    assert limits_of(r.json()) == []  # the patient's own record: no limits to say
    r = await client.get("/fhir/Observation/s1", headers=mine)
    assert r.status_code == 200 and r.json()["id"] == "s1", r.text
    r = await client.get("/fhir/Patient/5580730215730/$everything", headers=mine)
    assert r.status_code == 403, r.text
    accesses = world.published.of(RecordAccessed)
    assert [(e.data["purpose"], e.data["decision"]) for e in accesses] == [
        ("PATRQT", "permit"),
        ("PATRQT", "permit"),
        ("TREAT", "deny"),
    ]
    assert accesses[0].data["physician"] is None and accesses[0].data["count"] == 3


async def test_a_patient_exports_their_record_as_bulk_data(
    client: httpx.AsyncClient, world: World
) -> None:
    keys = SigningKeys([new_key()])
    world.deps.verifier = TokenVerifier(
        issuer=world.settings.issuer, audience=world.settings.fhir_base, jwks=keys.public_jwks()
    )
    own = {"sub": f"patient:{CID}", "fhirUser": f"Patient/{CID}", "patient": CID, "hospital": ""}
    mine = smart_token(world, keys, "patient/*.rs", **own)
    kick_off = f"/fhir/Patient/{CID}/$export"
    r = await client.get(kick_off, headers=mine)
    assert r.status_code == 400 and "respond-async" in r.text  # the protocol is asynchronous
    r = await client.get(kick_off, headers={**mine, "prefer": "respond-async"})
    assert r.status_code == 202, r.text
    status_url = r.headers["content-location"]
    assert status_url.startswith(f"{world.settings.fhir_base}/$export-status/")
    path = status_url.removeprefix(world.settings.public_url)
    r = await client.get(path, headers=mine)
    assert r.status_code == 200, r.text
    manifest = r.json()
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    assert [(o["type"], o["count"]) for o in manifest["output"]] == [("Observation", 2)]
    file_path = manifest["output"][0]["url"].removeprefix(world.settings.public_url)
    r = await client.get(file_path, headers=mine)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert sorted(x["id"] for x in lines) == ["a1", "a2"]
    # a physician reads but does not take copies; a stranger learns nothing of the job
    physician = smart_token(world, keys, "user/*.rs")
    await signed_in(client, world)
    r = await client.get(kick_off, headers={**physician, "prefer": "respond-async"})
    assert r.status_code == 403, r.text
    assert (await client.get(path, headers=physician)).status_code == 404
    assert (await client.get(path)).status_code == 401
    r = await client.get(
        kick_off, headers={**mine, "prefer": "respond-async"}, params={"_type": "Spaceship"}
    )
    assert r.status_code == 400, r.text
    assert (await client.delete(path, headers=mine)).status_code == 202
    assert (await client.get(path, headers=mine)).status_code == 404
    purposes = [
        (e.data["endpoint"], e.data["decision"]) for e in world.published.of(RecordAccessed)
    ]
    assert ("Patient/$export", "permit") in purposes and (
        "Patient/$export-file",
        "permit",
    ) in purposes


async def test_the_patient_summary_holds_what_may_be_seen(
    client: httpx.AsyncClient, world: World
) -> None:
    me = await signed_in(client, world)
    r = await client.get(f"/fhir/Patient/{CID}/$summary", headers=me)
    assert r.status_code == 200, r.text
    bundle = r.json()
    composition = bundle["entry"][0]["resource"]
    sections = {s["code"]["coding"][0]["code"]: s for s in composition["section"]}
    assert "emptyReason" in sections["48765-2"] and "emptyReason" in sections["11450-4"]
    results = [ref["reference"].rsplit("/", 1)[1] for ref in sections["30954-2"]["entry"]]
    assert sorted(results) == ["a1", "a2"]
    assert composition["subject"]["reference"].endswith(f"/Patient/{CID}")
    r = await client.get(f"/fhir/Patient/{CID}/$summary")
    assert r.status_code == 401
    decisions = [e.data["endpoint"] for e in world.published.of(RecordAccessed)]
    assert decisions.count("Patient/$summary") == 1  # an unauthenticated ask is not logged
