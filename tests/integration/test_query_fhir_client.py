"""Off-the-shelf FHIR clients against the query service on the real Kafka and database.

The service runs in-process behind a real HTTP server (uvicorn on a free port, so
fhirpy and the ``next`` links it follows reach it like any client would), with
``HEALTHLINK_QUERY_PUBLIC_URL`` set to that server. State arrives as in
production: hospital and consent events, and ``records.stored`` events built with
ingest's own functions. Every FHIR body the interactions got is checked with HAPI
FHIR 8.8's R4 instance validator (skipped, with the reason, without Java/Maven).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from healthlink.apps import build_app
from services.auth.keys import SigningKeys, new_key
from services.query.handlers import Deps
from shared.auth import TokenVerifier
from shared.broker import Publisher, make_broker
from shared.kafka_client import ADMIN
from shared.settings import Settings
from tests.integration.test_query_access import READER, SOURCE_A, SOURCE_B, World, bearer
from tests.support.fhir_client import Interaction, interactions
from tests.support.hapi import validator
from tests.support.journey import eventually
from tests.support.platform import free_port
from tests.support.searchsets import limits_of, records_of

pytestmark = pytest.mark.integration


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[tuple[World, str]]:
    """The query service on a real HTTP port; its public URL."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    app = build_app("query", settings, query_public_url=public, query_projector="inline")
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    broker = make_broker(settings, "query-fhir-test", principal=ADMIN)  # plays consent, ingest
    await broker.start()
    try:

        async def started() -> bool:
            return server.started

        await eventually(started, what="query service listening")
        async with httpx.AsyncClient(base_url=public, timeout=30) as client:
            deps: Deps = app.state.deps
            world = World(settings, client, deps, Publisher(broker, settings), {},
                          random.Random(uuid.uuid4().int))  # fmt: skip
            for code in (SOURCE_A, SOURCE_B, READER):
                await world.hospital(code)
            yield world, public
    finally:
        await broker.stop()
        server.should_exit = True
        await serving


def report(found: list[Interaction]) -> str:
    lines = [f"{'PASS' if it.ok else 'FAIL'} {it.name} {it.statuses} {it.error} "
             f"{it.validator_errors[:2]}" for it in found]  # fmt: skip
    passed = sum(it.ok for it in found)
    errors = sum(len(it.validator_errors) for it in found)
    return "\n".join([*lines, f"{passed} of {len(found)} interactions passed; "
                      f"{errors} validator errors"])  # fmt: skip


async def test_off_the_shelf_clients_use_the_api_unchanged(live: tuple[World, str]) -> None:
    world, public = live
    doctor = await world.physician("20101", READER)
    cid = world.cid()
    await world.consent(cid, hospitals=[SOURCE_A])
    await world.records(cid, SOURCE_A, 40)
    await world.records(cid, SOURCE_B, 8)  # not consented: never shown, not even by id

    found = await interactions(f"{public}/fhir", doctor, cid, public)
    hapi = validator()
    documents = {f"{n}-{k}": body for n, it in enumerate(found)
                 for k, body in enumerate(it.bodies)}  # fmt: skip
    errors = hapi.validate(documents)
    for n, it in enumerate(found):
        for k in range(len(it.bodies)):
            it.validator_errors += errors[f"{n}-{k}"]
    print(report(found))
    assert all(it.ok for it in found), report(found)

    # every entry's fullUrl is absolute on the public URL, and B's records never appear
    for it in found:
        for body in it.bodies:
            for entry in body.get("entry", []) if body.get("resourceType") == "Bundle" else []:
                url = entry["fullUrl"]
                assert url.startswith(f"{public}/fhir/") or url.startswith("urn:uuid:"), url
                source = entry["resource"].get("meta", {}).get("source", "")
                assert not source.endswith(SOURCE_B)


async def test_read_by_id_is_decided_and_audited_like_search(live: tuple[World, str]) -> None:
    world, _ = live
    doctor = await world.physician("20102", READER)
    cid = world.cid()
    await world.consent(cid, hospitals=[SOURCE_A])
    await world.records(cid, SOURCE_A, 10)
    await world.records(cid, SOURCE_B, 10)
    r = await world.client.get("/fhir/Patient/" + cid + "/$everything", params={"_count": 1000},
                               headers=bearer(doctor))  # fmt: skip
    shown = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in records_of(r.json())}
    assert limits_of(r.json()) == ["chosen-hospitals", "sensitive-not-shared"]
    rtype, rid = sorted(shown)[0]
    r = await world.client.get(f"/fhir/{rtype}/{rid}", headers=bearer(doctor))
    assert r.status_code == 200 and r.json()["id"] == rid
    r = await world.client.get(f"/fhir/{rtype}/{rid}")
    assert r.status_code == 401
    await world.consent(cid, hospitals=[])  # revoked: the next read by id is refused
    r = await world.client.get(f"/fhir/{rtype}/{rid}", headers=bearer(doctor))
    assert r.status_code == 403 and r.json()["resourceType"] == "OperationOutcome"
    r = await world.client.get(f"/fhir/{rtype}/{rid}", headers={**bearer(doctor),
                               "accept": "application/fhir+xml"})  # fmt: skip
    assert r.status_code == 406


async def test_the_patient_summary_is_a_valid_ips_document(live: tuple[World, str]) -> None:
    """``Patient/$summary`` validates (HAPI's R4 validator) as a document Bundle whose
    Composition's sections point only inside it, and holds only what consent allows."""
    world, public = live
    doctor = await world.physician("20103", READER)
    cid = world.cid()
    await world.consent(cid, hospitals=[SOURCE_A])
    await world.records(cid, SOURCE_A, 60)
    await world.records(cid, SOURCE_B, 10)
    r = await world.client.get(f"/fhir/Patient/{cid}/$summary", headers=bearer(doctor))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "document" and body["identifier"] and body["timestamp"]
    composition = body["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    assert composition["type"]["coding"][0]["code"] == "60591-5"
    urls = {e["fullUrl"] for e in body["entry"]}
    assert len(urls) == len(body["entry"])
    codes = [s["code"]["coding"][0]["code"] for s in composition["section"]]
    assert codes[:3] == ["48765-2", "11450-4", "10160-0"]  # IPS's required sections
    for section in composition["section"]:
        assert section.get("entry") or section.get("emptyReason")
        for ref in section.get("entry", []):
            assert ref["reference"] in urls
    for entry in body["entry"][2:]:
        assert entry["fullUrl"].startswith(f"{public}/fhir/")
        assert not entry["resource"].get("meta", {}).get("source", "").endswith(SOURCE_B)
    errors = validator().validate({"ips": body})["ips"]
    assert errors == [], errors[:5]


async def test_subsets_and_reverse_includes_keep_to_the_decision(live: tuple[World, str]) -> None:
    """``_revinclude`` brings back only records the reader may see, each pointing at a
    page record of its own source; ``_elements`` and ``_summary=true`` keep every
    resource's source hospital and tag it SUBSETTED; the paging links keep the
    parameters; HAPI's R4 validator accepts the subsetted bundles."""
    world, _ = live
    doctor = await world.physician("20104", READER)
    cid = world.cid()
    await world.consent(cid, hospitals=[SOURCE_A])
    await world.records(cid, SOURCE_A, 60)
    await world.records(cid, SOURCE_B, 30)  # not consented: never included
    me = bearer(doctor)
    q = {"patient": cid, "_revinclude": "Observation:encounter", "_elements": "status,subject",
         "_count": "2"}  # fmt: skip
    r = await world.client.get("/fhir/Encounter", params=q, headers=me)
    bundles, pairs = [], []
    while True:
        assert r.status_code == 200, r.text
        bundle = r.json()
        bundles.append(bundle)
        matches = {f"Encounter/{e['resource']['id']}" for e in bundle["entry"]
                   if e["search"]["mode"] == "match"}  # fmt: skip
        pairs += [(e["resource"]["id"], matches) for e in bundle["entry"]
                  if e["search"]["mode"] == "include"]  # fmt: skip
        for resource in [e["resource"] for e in records_of(bundle)]:
            assert resource["meta"]["source"].endswith(SOURCE_A)
            assert "SUBSETTED" in [t["code"] for t in resource["meta"]["tag"]]
            assert set(resource) <= {"resourceType", "id", "meta", "status", "_status", "code",
                                     "class", "subject"}  # fmt: skip
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not nxt:
            break
        assert "_revinclude=Observation%3Aencounter" in nxt[0] and "_elements=" in nxt[0]
        r = await world.client.get(nxt[0], headers=me)
    assert len(bundles) > 1 and pairs, "the synthetic record ties observations to encounters"
    for rid, matches in pairs[:10]:  # the include lost its encounter to _elements: read it
        r = await world.client.get(f"/fhir/Observation/{rid}", headers=me)
        assert r.json()["encounter"]["reference"] in matches
    r = await world.client.get(
        f"/fhir/Patient/{cid}/$everything", params={"_summary": "true"}, headers=me
    )
    summary = r.json()
    shown = records_of(summary)
    assert shown and all(not e["resource"]["meta"]["source"].endswith(SOURCE_B) for e in shown)
    documents = {f"page-{n}": b for n, b in enumerate(bundles[:5])}
    errors = validator().validate({**documents, "summary": summary})
    assert not any(errors.values()), errors


async def test_a_patients_bulk_export_validates(live: tuple[World, str]) -> None:
    """FHIR Bulk Data as a patient's app takes it (their own SMART token): kick-off, the
    manifest, every NDJSON file followed to its end; each line is a resource HAPI's R4
    validator accepts. The patient's copy is whole: every source, consented or not."""
    world, _ = live
    cid = world.cid()
    await world.consent(cid, hospitals=[SOURCE_A])
    await world.records(cid, SOURCE_A, 30)
    await world.records(cid, SOURCE_B, 5)  # not consented: hidden from physicians only
    deps: Deps = world.deps
    keys = SigningKeys([new_key()])
    deps.verifier = TokenVerifier(
        issuer=deps.settings.issuer, audience=deps.settings.fhir_base, jwks=keys.public_jwks()
    )
    now = int(time.time())
    claims = {"iss": deps.settings.issuer, "aud": deps.settings.fhir_base, "exp": now + 300,
              "iat": now, "jti": uuid.uuid4().hex, "sub": f"Patient/{cid}",
              "client_id": "patient-app", "scope": "openid fhirUser launch/patient patient/*.rs",
              "patient": cid, "fhirUser": f"Patient/{cid}"}  # fmt: skip
    mine = bearer(keys.sign(claims, "at+jwt"))
    r = await world.client.get(
        f"/fhir/Patient/{cid}/$export", headers={**mine, "prefer": "respond-async"}
    )
    assert r.status_code == 202, r.text
    status = r.headers["content-location"]
    r = await world.client.get(status, headers=mine)
    assert r.status_code == 200, r.text
    manifest = r.json()
    assert manifest["output"] and manifest["error"] == [], manifest
    documents: dict[str, object] = {}
    sources: set[str] = set()
    for output in manifest["output"]:
        r = await world.client.get(output["url"], headers=mine)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/fhir+ndjson")
        lines = [json.loads(line) for line in r.text.splitlines()]
        assert len(lines) == output["count"]
        for n, resource in enumerate(lines):
            assert resource["resourceType"] == output["type"]
            sources.add(resource["meta"]["source"].rsplit(":", 1)[-1])
            documents[f"{output['type']}-{n}"] = resource
    assert sum(o["count"] for o in manifest["output"]) == len(documents) == 35
    assert sources == {SOURCE_A, SOURCE_B}
    errors = validator().validate(documents)
    wrong = {name: found[:2] for name, found in errors.items() if found}
    assert not wrong, wrong
