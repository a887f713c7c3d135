"""A hospital without Kafka, as its system would connect: registered at the auth service
as a SMART Backend Services client (its own JWK set), it gets tokens with
``private_key_jwt`` (the adapter's ``BackendServicesAuth``), posts signed bundles to
ingest's ``POST /fhir`` with the token, and follows each upload to "stored" through its
receipt. Without a token, or with another hospital's, the upload is refused.

It learns of the data request it answers through both doors: a FHIR Subscription
(rest-hook to a loopback endpoint the test runs, registered with its admin key) and
polling (``GET /hospitals/{code}/data-requests``)."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from healthlink_adapter import (
    BackendServicesAuth,
    HttpDataRequests,
    HttpUploader,
    TokenRefused,
    UploadRefused,
    new_key,
    public_jwk,
)
from joserfc.jwk import ECKey

from healthlink.synthetic import make_patient_bundle
from services.ingest.subscriptions import PAYLOAD_CONTENT, TOPIC_URL
from tests.support.journey import Actors, Hospital, eventually

pytestmark = pytest.mark.e2e
CODE, NAME = "10722", "Nopparat Rajathanee Hospital"
OTHER, OTHER_NAME = "10723", "Rajavithi Hospital (HTTP)"
HOOK_SECRET = "hook-secret-of-the-hospital"


@contextmanager
def hospital_endpoint() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The hospital's notification endpoint on 127.0.0.1 (a random port): keeps each
    notification that carries its own header, answers 200 (401 without it)."""
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            ok = self.headers.get("authorization") == f"Bearer {HOOK_SECRET}"
            if ok:
                received.append(json.loads(body))
            self.send_response(200 if ok else 401)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/notify", received
    finally:
        server.shutdown()
        server.server_close()


async def subscribe(actors: Actors, hospital: Hospital, endpoint: str) -> str:
    """The hospital's subscription to its data requests (full resource), its id."""
    r = await actors.http.post(
        actors.url("ingest", f"/hospitals/{hospital.code}/fhir/Subscription"),
        headers={"authorization": f"Bearer {hospital.admin_key}"},
        json={
            "resourceType": "Subscription",
            "status": "requested",
            "reason": "data requests for the e2e hospital",
            "criteria": TOPIC_URL,
            "channel": {
                "type": "rest-hook",
                "endpoint": endpoint,
                "payload": "application/fhir+json",
                "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "full-resource"}]},
                "header": [f"Authorization: Bearer {HOOK_SECRET}"],
            },
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active"
    return str(r.json()["id"])


def requested(notifications: list[dict[str, Any]], cid: str) -> str | None:
    """The id of the data request for ``cid`` among the notifications (full-resource)."""
    for bundle in notifications:
        for entry in bundle["entry"][1:]:
            task = entry["resource"]
            if task["resourceType"] == "Task" and task["for"]["identifier"]["value"] == cid:
                return str(task["identifier"][0]["value"])
    return None


async def operator(actors: Actors) -> dict[str, str]:
    """The development operator's token (its key: written by the auth service at start)."""
    key_file = actors.platform.log_dir / "auth" / "dev-operator.jwk"
    key = ECKey.import_key(json.loads(key_file.read_text()))
    scope = "system/Practitioner.cruds"
    auth = BackendServicesAuth(actors.url("auth", "/token"), "dev-operator", key, scope=scope)
    return {"authorization": f"Bearer {await auth.token()}"}


async def system_client(actors: Actors, code: str) -> tuple[str, ECKey]:
    """A hospital-system client of ``code`` at the auth service, and its private key."""
    client_id, key = f"hosp-{code}-{uuid.uuid4().hex[:6]}", new_key(f"sys-{code}")
    r = await actors.http.post(
        actors.url("auth", "/clients"),
        headers=await operator(actors),
        json={
            "kind": "hospital-system",
            "client_id": client_id,
            "hospital": code,
            "jwks": {"keys": [public_jwk(key)]},
        },
    )
    assert r.status_code == 201, r.text
    return client_id, key


async def token_auth(actors: Actors, client: tuple[str, ECKey]) -> BackendServicesAuth:
    """The client's auth, once the auth service gives it a token (it learns of a new
    hospital from the hospital's event)."""
    auth = BackendServicesAuth(actors.url("auth", "/token"), client[0], client[1])

    async def given() -> bool:
        try:
            return bool(await auth.token(fresh=True))
        except TokenRefused:
            return False

    await eventually(given, what=f"a token for {client[0]}")
    return auth


def uploader(hospital: Hospital, actors: Actors, auth: BackendServicesAuth) -> HttpUploader:
    return HttpUploader(actors.url("ingest", ""), hospital.code, hospital.signer, auth=auth)


async def test_a_hospital_system_uploads_over_http_with_its_smart_token(actors: Actors) -> None:
    rng = random.Random(722)
    hospital = await actors.hospital(CODE, NAME)
    await actors.hospital(OTHER, OTHER_NAME)
    cid, token = await actors.patient(rng)
    with hospital_endpoint() as (endpoint, notifications):
        subscription = await subscribe(actors, hospital, endpoint)
        await actors.consent(cid, token, [CODE])  # consent asks the hospital for its records

        async def notified() -> str | None:
            return requested(notifications, cid)

        request_id = await eventually(notified, what="the data request notified")
    status = notifications[0]["entry"][0]["resource"]
    assert {"name": "type", "valueCode": "event-notification"} in status["parameter"]
    async with HttpDataRequests(actors.url("ingest", ""), CODE, hospital.admin_key) as door:
        polled = await door.page()  # the other door: the same request
    assert request_id in [r.id for r in polled.requests if r.patient == cid]
    r = await actors.http.delete(
        actors.url("ingest", f"/hospitals/{CODE}/fhir/Subscription/{subscription}"),
        headers={"authorization": f"Bearer {hospital.admin_key}"},
    )
    assert r.status_code == 204, r.text
    bundle = make_patient_bundle(rng, cid=cid, hospital_code=CODE, n_resources=7)
    mine = await token_auth(actors, await system_client(actors, CODE))
    theirs = await token_auth(actors, await system_client(actors, OTHER))
    async with uploader(hospital, actors, mine) as sender:  # the answer, idempotent
        receipt = await sender.send(bundle, f"answer-{request_id}", request_id=request_id)

        async def stored() -> dict[str, object] | None:
            status, task = await sender.receipt(receipt)
            return task if status == 200 else None

        task = await eventually(stored, what="the upload stored")
    assert task["status"] == "completed", task

    async with HttpUploader(actors.url("ingest", ""), CODE, hospital.signer) as bare:
        with pytest.raises(UploadRefused) as refused:
            await bare.send(bundle)
    assert refused.value.status == 401 and "SMART Backend Services" in refused.value.diagnostics
    async with uploader(hospital, actors, theirs) as stolen:  # another hospital's token
        with pytest.raises(UploadRefused) as refused:
            await stolen.send(bundle)
    assert refused.value.status == 403 and f"not hospital {CODE}'s" in refused.value.diagnostics
