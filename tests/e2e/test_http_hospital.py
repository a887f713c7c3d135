"""A hospital without Kafka, as its system would connect: registered at the auth service
as a SMART Backend Services client (its own JWK set), it gets tokens with
``private_key_jwt`` (the adapter's ``BackendServicesAuth``), posts signed bundles to
ingest's ``POST /fhir`` with the token, and follows each upload to "stored" through its
receipt. Without a token, or with another hospital's, the upload is refused."""

from __future__ import annotations

import json
import random
import uuid

import pytest
from healthlink_adapter import (
    BackendServicesAuth,
    HttpUploader,
    TokenRefused,
    UploadRefused,
    new_key,
    public_jwk,
)
from joserfc.jwk import ECKey

from healthlink.synthetic import make_patient_bundle
from tests.support.journey import Actors, Hospital, eventually

pytestmark = pytest.mark.e2e
CODE, NAME = "10722", "Nopparat Rajathanee Hospital"
OTHER, OTHER_NAME = "10723", "Rajavithi Hospital (HTTP)"


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
    await actors.consent(cid, token, [CODE])
    bundle = make_patient_bundle(rng, cid=cid, hospital_code=CODE, n_resources=7)
    mine = await token_auth(actors, await system_client(actors, CODE))
    theirs = await token_auth(actors, await system_client(actors, OTHER))
    async with uploader(hospital, actors, mine) as sender:
        receipt = await sender.send(bundle, "http-e2e-1")

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
