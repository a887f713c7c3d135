"""``_elements``, ``_summary=true|text|data`` and ``_revinclude`` over the query fakes:
what a subsetted resource keeps (its source hospital always), the SUBSETTED tag, the
element tables against fhir.resources' metadata, reverse includes decided by the same
consent as the rest, paging links that keep the parameters, lenient and strict."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from services.query.app import create_app
from services.query.charts import SOURCE_PREFIX
from services.query.search import READ_TYPES
from services.query.subsets import (
    REQUIRED_ELEMENTS,
    SUMMARY_ELEMENTS,
    Subset,
    parse_subset,
)
from shared.errors import InvalidInput
from shared.events import RecordAccessed, StoredRecord
from tests.support.query_fakes import (
    CID,
    READER,
    SOURCE_A,
    SOURCE_B,
    World,
    stored,
)
from tests.support.searchsets import limits_of, records_of
from tests.unit.test_query_api import signed_in

pytestmark = pytest.mark.unit
SUBSETTED = ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "SUBSETTED")


def record(resource: dict[str, Any], sensitive: bool = False, day: int = 1) -> StoredRecord:
    return StoredRecord(
        type=resource["resourceType"], resource_id=resource["id"],
        resource_json=orjson.dumps(resource).decode(), category="laboratory",
        sensitive=sensitive, date=f"2026-01-{day:02d}", rank="1",
    )  # fmt: skip


def obs(rid: str, enc: str | None = "e1", day: int = 1) -> dict[str, Any]:
    found = {"resourceType": "Observation", "id": rid, "status": "final",
             "text": {"status": "generated", "div": "<div>Hb</div>"},
             "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
             "subject": {"reference": "Patient/pA"}, "effectiveDateTime": f"2026-01-{day:02d}",
             "valueQuantity": {"value": 13.1, "unit": "g/dL"}, "note": [{"text": "fasting"}],
             "_status": {"extension": [{"url": "urn:x", "valueString": "s"}]}}  # fmt: skip
    if enc:
        found["encounter"] = {"reference": f"Encounter/{enc}"}
    return found


ENCOUNTER = {"resourceType": "Encounter", "id": "e1", "status": "finished",
             "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                       "code": "AMB"}, "period": {"start": "2026-01-01"}}  # fmt: skip
CONDITION = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/pA"},
             "encounter": {"reference": "Encounter/e1"}, "code": {"text": "anaemia"}}  # fmt: skip
REPORT = {"resourceType": "DiagnosticReport", "id": "r1", "status": "final",
          "code": {"text": "CBC"}, "result": [{"reference": "Observation/a1"}]}  # fmt: skip


@pytest.fixture
async def world() -> World:
    world = World()
    for code in (SOURCE_A, SOURCE_B, READER):
        await world.hospital(code)
    await world.consent(hospitals=[SOURCE_A])
    await world.store(
        stored(SOURCE_A, record(obs("a1")), record(obs("a2", None, day=2), day=2),
               record(ENCOUNTER), record(CONDITION), record(REPORT),
               record(obs("s1"), sensitive=True)),
        # B (no consent) points at an Encounter/e1 too: never shown, never revincluded
        stored(SOURCE_B, record(obs("b1")), record({**ENCOUNTER, "id": "e2"})),
    )  # fmt: skip
    return world


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(world.settings, deps=world.deps)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


def subsetted(resource: dict[str, Any]) -> bool:
    return any((t["system"], t["code"]) == SUBSETTED for t in resource["meta"].get("tag", []))


def test_element_tables_are_fhir_resources_metadata() -> None:
    for rtype in READ_TYPES:
        summary, required = set(), set()
        for name, field in get_fhir_model_class(rtype).model_fields.items():
            extra: dict[str, Any] = field.json_schema_extra or {}  # type: ignore[assignment]
            element = field.alias or name
            if not extra.get("element_property") or element in ("id", "meta"):
                continue
            if extra.get("summary_element_property"):
                summary.add(element)
            if (
                field.is_required()
                or extra.get("element_required")
                or extra.get("one_of_many_required")
            ):
                required.add(element)
        assert SUMMARY_ELEMENTS[rtype] == summary, rtype
        assert REQUIRED_ELEMENTS[rtype] == required, rtype


def test_a_subset_keeps_what_was_asked_and_the_source() -> None:
    resource = {**obs("a1"), "meta": {"source": SOURCE_PREFIX + SOURCE_A,
                                      "tag": [{"system": "urn:h", "code": SOURCE_A}]}}  # fmt: skip
    kept = Subset("elements", frozenset({"value", "Condition.note", "nope"})).apply(resource)
    # status (and its _status) and code are mandatory; value[x] by its base name
    assert set(kept) == {"resourceType", "id", "meta", "status", "_status", "code",
                         "valueQuantity"}  # fmt: skip
    assert kept["meta"]["source"] == SOURCE_PREFIX + SOURCE_A and subsetted(kept)
    assert kept["meta"]["tag"][0]["code"] == SOURCE_A
    summary = Subset("true").apply(resource)
    assert "note" not in summary and "text" not in summary and "encounter" in summary
    assert set(Subset("text").apply(resource)) == {"resourceType", "id", "meta", "status",
                                                  "_status", "code", "text"}  # fmt: skip
    data = Subset("data").apply(resource)
    assert "text" not in data and "note" in data and subsetted(data)
    twice = Subset("true").apply(summary)
    assert [t["code"] for t in twice["meta"]["tag"]].count("SUBSETTED") == 1


def test_summary_and_elements_parameters() -> None:
    assert parse_subset([("_summary", "count")], False) == (True, None, [])
    assert parse_subset([("_summary", "false")], False) == (False, None, [])
    assert parse_subset([("_summary", "true")], False) == (False, Subset("true"), [])
    both = parse_subset([("_summary", "true"), ("_elements", "code, status,")], False)
    assert both[1] == Subset("elements", frozenset({"code", "status"})) and both[2]
    assert parse_subset([("_summary", "maybe")], False)[2] == ["_summary=maybe"]
    for strict_bad in ([("_summary", "maybe")], [("_summary", "text"), ("_elements", "code")]):
        with pytest.raises(InvalidInput):
            parse_subset(strict_bad, True)
    with pytest.raises(InvalidInput):
        parse_subset([("_elements", ",".join(f"e{i}" for i in range(101)))], False)


async def test_elements_and_summary_on_search_read_and_everything(
    client: httpx.AsyncClient, world: World
) -> None:
    me = await signed_in(client, world)
    q = {"patient": CID, "_elements": "subject", "_count": "1"}
    r = await client.get("/fhir/Observation", params=q, headers=me)
    assert r.status_code == 200, r.text
    bundle = r.json()
    (entry,) = records_of(bundle)
    assert set(entry["resource"]) == {"resourceType", "id", "meta", "status", "_status",
                                      "code", "subject"}  # fmt: skip
    assert entry["resource"]["meta"]["source"] == SOURCE_PREFIX + SOURCE_A
    assert subsetted(entry["resource"]) and bundle["total"] == 2  # s1 sensitive, b1 B's
    nxt = dict(parse_qsl(urlsplit(next(x["url"] for x in bundle["link"]
                                       if x["relation"] == "next")).query))  # fmt: skip
    assert nxt["_elements"] == "subject" and nxt["_offset"] == "1"
    r = await client.get("/fhir/Observation", params={"patient": CID, "_summary": "true"},
                         headers=me)  # fmt: skip
    resources = [e["resource"] for e in records_of(r.json())]
    assert [x["id"] for x in resources] == ["a2", "a1"]
    assert all(subsetted(x) and "note" not in x and "text" not in x for x in resources)
    r = await client.get("/fhir/Observation/a1", params={"_summary": "text"}, headers=me)
    assert r.status_code == 200 and "text" in r.json() and "subject" not in r.json()
    r = await client.get("/fhir/Observation/a1", params={"_elements": "note"}, headers=me)
    assert r.json()["note"] and "subject" not in r.json() and subsetted(r.json())
    r = await client.get("/fhir/Observation/b1", params={"_elements": "id"}, headers=me)
    assert r.status_code == 404  # B's: subsetting reveals nothing more than a read
    r = await client.get(f"/fhir/Patient/{CID}/$everything", params={"_summary": "data"},
                         headers=me)  # fmt: skip
    resources = [e["resource"] for e in records_of(r.json())]
    assert resources and all(subsetted(x) and "text" not in x for x in resources)
    outcome = r.json()["entry"][-1]["resource"]  # the limits, never subsetted
    assert outcome["resourceType"] == "OperationOutcome" and "meta" not in outcome
    assert limits_of(r.json()) == ["chosen-hospitals", "sensitive-not-shared"]
    assert all(x["meta"]["source"] == SOURCE_PREFIX + SOURCE_A for x in resources)
    r = await client.get(f"/fhir/Patient/{CID}", params={"_elements": "gender"}, headers=me)
    assert r.status_code == 200 and subsetted(r.json()) and "identifier" not in r.json()


async def test_revinclude_follows_visible_references_back(
    client: httpx.AsyncClient, world: World
) -> None:
    me = await signed_in(client, world)
    q: dict[str, Any] = {"patient": CID, "_revinclude": ["Observation:encounter",
                                                        "Condition:encounter"]}  # fmt: skip
    r = await client.get("/fhir/Encounter", params=q, headers=me)
    assert r.status_code == 200, r.text
    modes = [(e["resource"]["id"], e["search"]["mode"]) for e in records_of(r.json())]
    # s1 (sensitive, not allowed) and B's b1 point at e1 too: never included
    assert modes == [("e1", "match"), ("a1", "include"), ("c1", "include")]
    r = await client.get("/fhir/Observation", headers=me, params={
        "patient": CID, "_id": "a1", "_revinclude": "DiagnosticReport:result",
        "_elements": "code"})  # fmt: skip
    entries = records_of(r.json())
    assert [(e["resource"]["id"], e["search"]["mode"]) for e in entries] == [
        ("a1", "match"), ("r1", "include")]  # fmt: skip
    assert "result" not in entries[1]["resource"] and subsetted(entries[1]["resource"])
    event = world.published.of(RecordAccessed)[-1]
    assert event.data["count"] == 2 and event.data["sources"] == [SOURCE_A]
    # lenient: an unsupported pair is ignored and named; strict: 400 naming the supported
    q = {"patient": CID, "_revinclude": "Provenance:target"}
    r = await client.get("/fhir/Encounter", params=q, headers=me)
    assert r.json()["entry"][-1]["search"]["mode"] == "outcome"
    assert "Provenance:target" in r.json()["entry"][-1]["resource"]["issue"][0]["diagnostics"]
    r = await client.get("/fhir/Encounter", params=q, headers={**me, "prefer": "handling=strict"})
    assert r.status_code == 400 and "Observation:encounter" in r.json()["issue"][0]["diagnostics"]
    statement = (await client.get("/fhir/metadata")).json()
    by_type = {x["type"]: x for x in statement["rest"][0]["resource"]}
    assert "Condition:encounter" in by_type["Encounter"]["searchRevInclude"]
    assert by_type["Observation"]["searchRevInclude"] == ["DiagnosticReport:result"]
    assert "searchRevInclude" not in by_type["Condition"]
