"""The FHIR R4 API as off-the-shelf clients use it, over in-memory fakes: absolute
fullUrls and links, lenient / strict parameters, formats, per-type parameters,
``_include``, ``_summary=count``, reads by id (same decision and audit as a search),
``Patient`` read and search by CID, the CapabilityStatement and SMART discovery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from services.query.app import create_app
from shared.cid import CID_SYSTEM
from shared.events import RecordAccessed, StoredRecord
from tests.support.query_fakes import (
    CID,
    LICENCE,
    READER,
    SOURCE_A,
    SOURCE_B,
    World,
    observation,
    stored,
)
from tests.support.searchsets import limits_of, records_of
from tests.unit.test_query_api import signed_in

pytestmark = pytest.mark.unit
BASE = "http://t"


def record(
    resource: dict[str, Any], date: str | None = None, cat: str | None = None
) -> StoredRecord:
    return StoredRecord(
        type=resource["resourceType"], resource_id=resource["id"],
        resource_json=orjson.dumps(resource).decode(), category=cat, sensitive=False,
        date=date, rank="1",
    )  # fmt: skip


ENCOUNTER = {"resourceType": "Encounter", "id": "e1", "status": "finished",
             "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                       "code": "AMB"}, "period": {"start": "2026-01-01"}}  # fmt: skip
CONDITION = {"resourceType": "Condition", "id": "c1", "subject": {"reference": f"Patient/{CID}"},
             "meta": {"lastUpdated": "2026-01-02T10:00:00Z"}, "onsetDateTime": "2020-05-01",
             "recordedDate": "2026-01-02",
             "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                            "condition-clinical", "code": "active"}]},
             "code": {"coding": [{"system": "http://snomed.info/sct",
                                  "code": "44054006"}]}}  # fmt: skip
PATIENT = {"resourceType": "Patient", "id": "pA", "gender": "female", "birthDate": "1980-02-03",
           "identifier": [{"system": CID_SYSTEM, "value": CID}]}  # fmt: skip
HIDDEN = {"resourceType": "Observation", "id": "b1", "status": "final",
          "code": {"text": "x"}}  # fmt: skip


@pytest.fixture
async def world() -> World:
    world = World()
    for code in (SOURCE_A, SOURCE_B, READER):
        await world.hospital(code)
    await world.consent(hospitals=[SOURCE_A])
    seen = observation("a1", day=1)
    linked = orjson.loads(seen.resource_json)
    linked["encounter"] = {"reference": "Encounter/e1"}
    seen = seen.model_copy(update={"resource_json": orjson.dumps(linked).decode()})
    await world.store(
        stored(SOURCE_A, seen, observation("a2", day=2),
               record(ENCOUNTER, "2026-01-01", "encounter"),
               record(CONDITION, "2026-01-02", "condition"), record(PATIENT)),
        stored(SOURCE_B, record(HIDDEN, "2026-01-03", "laboratory")),
    )  # fmt: skip
    return world


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    world.settings.query_public_url = "https://hl.example/api/"
    app = create_app(world.settings, deps=world.deps)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http


PUBLIC = "https://hl.example/api/fhir"


async def test_full_urls_and_links_are_absolute(client: httpx.AsyncClient, world: World) -> None:
    me = await signed_in(client, world)
    r = await client.get(f"/fhir/Patient/{CID}/$everything", params={"_count": 2}, headers=me)
    bundle = r.json()
    assert len(records_of(bundle)) == 2
    assert all(e["fullUrl"] == f"{PUBLIC}/{e['resource']['resourceType']}/{e['resource']['id']}"
               for e in records_of(bundle))  # fmt: skip
    (outcome,) = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]  # the limits
    assert outcome["fullUrl"].startswith("urn:uuid:")
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert links["self"].startswith(f"{PUBLIC}/Patient/{CID}/$everything?")
    assert links["next"].startswith(PUBLIC) and "_offset=2" in links["next"]
    assert bundle["total"] == 5


async def test_lenient_by_default_strict_on_request(
    client: httpx.AsyncClient, world: World
) -> None:
    me = await signed_in(client, world)
    q = {"patient": CID, "colour": "red", "_format": "json"}
    r = await client.get("/fhir/Observation", params=q, headers=me)
    assert r.status_code == 200, r.text
    entries = r.json()["entry"]
    assert [e["search"]["mode"] for e in entries] == ["match", "match", "outcome"]
    assert "colour" in entries[-1]["resource"]["issue"][0]["diagnostics"]
    assert entries[-1]["fullUrl"].startswith("urn:uuid:")
    r = await client.get("/fhir/Observation", params=q,
                         headers={**me, "prefer": "handling=strict"})  # fmt: skip
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"


async def test_formats(client: httpx.AsyncClient, world: World) -> None:
    me = await signed_in(client, world)
    for fmt in ("json", "application/fhir+json", "application/json"):
        r = await client.get("/fhir/metadata", params={"_format": fmt})
        assert r.status_code == 200
    r = await client.get("/fhir/Observation", params={"patient": CID, "_format": "xml"}, headers=me)
    assert r.status_code == 406 and r.json()["resourceType"] == "OperationOutcome"
    assert r.json()["issue"][0]["code"] == "not-supported"  # FHIR's issue type for it
    r = await client.get("/fhir/metadata", headers={"accept": "application/fhir+xml"})
    assert r.status_code == 406
    hapi = "application/fhir+xml;q=1.0, application/fhir+json;q=1.0, application/xml+fhir;q=0.9"
    r = await client.get("/fhir/metadata", headers={"accept": hapi})
    assert r.status_code == 200


async def test_search_parameters(client: httpx.AsyncClient, world: World) -> None:
    me = await signed_in(client, world)

    async def ids(rtype: str, **q: Any) -> list[str]:
        r = await client.get(f"/fhir/{rtype}", params=q, headers=me)
        assert r.status_code == 200, r.text
        return [e["resource"]["id"] for e in r.json().get("entry", [])
                if e["search"]["mode"] == "match"]  # fmt: skip

    assert await ids("Observation", subject=f"Patient/{CID}") == ["a2", "a1"]
    assert await ids("Observation", patient=CID, _id="a1") == ["a1"]
    assert await ids("Observation", _id="a1") == ["a1"]  # the owner found by id
    assert await ids("Condition", patient=CID, _lastUpdated="ge2026-01-02") == ["c1"]
    assert await ids("Condition", patient=CID, _lastUpdated="lt2026-01-02") == []
    assert await ids("Condition", patient=CID, **{"onset-date": "lt2021"}) == ["c1"]
    assert await ids("Condition", patient=CID, **{"onset-date": "ge2021"}) == []
    assert await ids("Condition", patient=CID, **{"clinical-status": "active"}) == ["c1"]
    assert await ids("Encounter", patient=CID, **{"class": "AMB"}) == ["e1"]
    assert await ids("Observation", patient=CID, status="final", code="718-7") == ["a2", "a1"]
    r = await client.get("/fhir/Observation", params={"patient": CID, "_summary": "count"},
                         headers=me)  # fmt: skip
    assert r.json()["total"] == 2 and records_of(r.json()) == []
    assert limits_of(r.json()) == ["chosen-hospitals", "sensitive-not-shared"]
    r = await client.get("/fhir/Observation", params={"patient": CID, "_total": "none"},
                         headers=me)  # fmt: skip
    assert "total" not in r.json()


async def test_include_follows_visible_references(client: httpx.AsyncClient, world: World) -> None:
    me = await signed_in(client, world)
    q = {"patient": CID, "_include": "Observation:encounter"}
    r = await client.get("/fhir/Observation", params=q, headers=me)
    modes = [(e["resource"]["id"], e["search"]["mode"]) for e in records_of(r.json())]
    assert modes == [("a2", "match"), ("a1", "match"), ("e1", "include")]
    assert r.json()["entry"][-1]["search"]["mode"] == "outcome"  # the limits, last


async def test_include_iterate_follows_what_was_included(
    client: httpx.AsyncClient, world: World
) -> None:
    """``_include:iterate`` also follows the references of included records (report ->
    its result -> that result's encounter); a plain ``_include`` of another type is not
    followed, and ``:iterate`` of an unknown pair is ignored and named (lenient)."""
    me = await signed_in(client, world)
    report = {"resourceType": "DiagnosticReport", "id": "r1", "status": "final",
              "code": {"text": "CBC"}, "result": [{"reference": "Observation/a1"}],
              "subject": {"reference": f"Patient/{CID}"}}  # fmt: skip
    await world.store(stored(SOURCE_A, record(report, "2026-01-04", "laboratory"), upload="u2"))
    iterate = [("patient", CID), ("_include", "DiagnosticReport:result"),
               ("_include:iterate", "Observation:encounter")]  # fmt: skip
    plain = [*iterate[:2], ("_include", "Observation:encounter")]
    spaceship = [*iterate[:2], ("_include:iterate", "Spaceship:crew")]
    cases = ((iterate, ["r1", "a1", "e1"], ""), (plain, ["r1", "a1"], "_include=Observation"),
             (spaceship, ["r1", "a1"], "_include:iterate=Spaceship"))  # fmt: skip
    for params, want, ignored in cases:
        r = await client.get("/fhir/DiagnosticReport", params=params, headers=me)
        assert r.status_code == 200, r.text
        entries = r.json()["entry"]
        found = [e["resource"]["id"] for e in entries if e["search"]["mode"] != "outcome"]
        assert found == want
        (outcome,) = [e for e in entries if e["search"]["mode"] == "outcome"]  # limits too
        warned = [i for i in outcome["resource"]["issue"] if i["severity"] == "warning"]
        assert ignored in str(warned) and bool(warned) == bool(ignored)


async def test_read_by_id_decided_and_audited(client: httpx.AsyncClient, world: World) -> None:
    me = await signed_in(client, world)
    r = await client.get("/fhir/Condition/c1", headers=me)
    assert r.status_code == 200 and r.json()["id"] == "c1"
    assert r.json()["meta"]["source"].endswith(SOURCE_A)
    r = await client.get("/fhir/Observation/b1", headers=me)  # SOURCE_B: no consent
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
    r = await client.get("/fhir/Observation/nope", headers=me)
    assert r.status_code == 404
    r = await client.get("/fhir/Condition/c1")
    assert r.status_code == 401
    events = world.published.of(RecordAccessed)
    # a record the physician may not see answers 404, recorded as a refusal; a request
    # without a token is no one's access and stays out of the patient's log
    assert [e.data["decision"] for e in events] == ["permit", "deny", "deny"]
    assert events[0].data["patient"] == CID and events[0].data["count"] == 1
    assert events[1].data["patient"] == CID and events[1].data["hidden"] >= 1
    assert events[0].data["physician"] == LICENCE


async def test_patient_read_and_search_by_cid(client: httpx.AsyncClient, world: World) -> None:
    me = await signed_in(client, world)
    r = await client.get(f"/fhir/Patient/{CID}", headers=me)
    assert r.status_code == 200, r.text
    patient = r.json()
    assert patient["id"] == CID and patient["identifier"] == [{"system": CID_SYSTEM, "value": CID}]
    assert (
        patient["gender"] == "female" and patient["link"][0]["other"]["reference"] == "Patient/pA"
    )
    r = await client.get("/fhir/Patient", params={"identifier": f"{CID_SYSTEM}|{CID}"}, headers=me)
    bundle = r.json()
    assert bundle["total"] == 1 and bundle["entry"][0]["fullUrl"] == f"{PUBLIC}/Patient/{CID}"
    r = await client.get("/fhir/Patient/pA", headers=me)  # a source's own Patient resource
    assert r.status_code == 200 and r.json()["id"] == "pA"
    r = await client.get("/fhir/Patient", params={"identifier": "urn:other|1"}, headers=me)
    assert r.status_code == 400


async def test_capability_statement_and_smart(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    assert statement["kind"] == "instance" and statement["implementation"]["url"] == PUBLIC
    rest = statement["rest"][0]
    by_type = {r["type"]: r for r in rest["resource"]}
    assert {i["code"] for i in by_type["Observation"]["interaction"]} == {"read", "search-type"}
    assert "Observation:encounter" in by_type["Observation"]["searchInclude"]
    names = {p["name"] for p in by_type["Condition"]["searchParam"]}
    assert {"onset-date", "subject", "_id", "_lastUpdated"} <= names
    assert by_type["Patient"]["operation"][0]["name"] == "everything"
    oauth = rest["security"]["extension"][0]
    uris = {e["url"]: e["valueUri"] for e in oauth["extension"]}
    assert uris["authorize"].endswith("/authorize") and uris["token"].endswith("/token")
    for path in ("/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"):
        config = (await client.get(path)).json()
        assert config["token_endpoint"] == uris["token"]
        assert "S256" in config["code_challenge_methods_supported"]
