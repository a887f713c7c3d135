"""Steps users take, as small functions over HTTP and the adapter, shared by e2e tests."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from healthlink_adapter import JwsSigner, KafkaUploader
from healthlink_adapter.contract import HOSPITAL_HEADER, SIGNATURE_HEADER
from healthlink_adapter.smart import token_form
from joserfc.jwk import ECKey

from shared.cid import random_cid
from shared.kafka_admin import hospital_connection
from shared.settings import Settings
from tests.support.credentials import public_key, signer
from tests.support.platform import Platform
from tests.support.settings import TEST_ADMIN

T = TypeVar("T")
ADMIN_KEYS: dict[str, str] = {}  # each hospital's admin key, as this process last got it
OPERATOR = {"authorization": f"Bearer {TEST_ADMIN}"}
DEV_SCAN = {"scan": "dev-face-scan-ok"}


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout_s: float = 30.0, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy (a readiness wait, not a sleep)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@dataclass
class Hospital:
    code: str
    admin_key: str
    signer: JwsSigner  # its private key; the public half is registered


@asynccontextmanager
async def uploader(settings: Settings, hospital: Hospital) -> AsyncIterator[KafkaUploader]:
    """The hospital's adapter on Kafka, logged in as that hospital, signing with its key."""
    async with KafkaUploader(
        await hospital_connection(settings, hospital.code),
        hospital.code,
        hospital.signer,
        settings.topic_prefix,
    ) as adapter:
        yield adapter


@dataclass
class Actors:
    http: httpx.AsyncClient
    platform: Platform

    def url(self, service: str, path: str) -> str:
        return self.platform.url(service) + path

    async def hospital(self, code: str, name: str, role: str = "provider") -> Hospital:
        r = await self.http.post(
            self.url("consent", "/hospitals"),
            headers=OPERATOR,
            json={"code": code, "name": name, "role": role},
        )
        if r.status_code != 409:  # 409: an earlier test of this session registered it
            assert r.status_code == 201, r.text
        admin_key = r.json().get("admin_key") if r.status_code == 201 else None
        fresh = bool(admin_key) or code not in ADMIN_KEYS
        if admin_key:
            ADMIN_KEYS[code] = admin_key
        elif code not in ADMIN_KEYS:  # shown to nobody in this process: a new one
            r = await self.http.post(
                self.url("consent", f"/hospitals/{code}/admin-key"), headers=OPERATOR
            )
            assert r.status_code == 201, r.text
            ADMIN_KEYS[code] = r.json()["admin_key"]
        r = await self.http.post(  # the same key again changes nothing
            self.url("consent", f"/hospitals/{code}/signing-keys"),
            headers=OPERATOR,
            json=public_key(code),
        )
        assert r.status_code == 201, r.text
        found = Hospital(code, ADMIN_KEYS[code], signer(code))
        if fresh and self.platform.runs("ingest"):
            await self.ingest_knows(found)
        return found

    async def ingest_knows(self, hospital: Hospital) -> None:
        """Wait until ingest takes the new hospital's admin key and signature: it learns
        them from the hospital's events, so an upload sent at once could be set aside
        as signed with an unknown key (query's roster call waits in ``physician``)."""
        receipt = "up-ready-check"  # no such upload: 404 once the signature is accepted
        signed = {HOSPITAL_HEADER: hospital.code, SIGNATURE_HEADER: hospital.signer.sign(
            receipt.encode())}  # fmt: skip
        letters = self.url("ingest", f"/hospitals/{hospital.code}/deadletters?limit=1")

        async def known() -> bool:
            r = await self.http.get(letters, headers=auth(hospital.admin_key))
            if r.status_code == 401:
                return False
            r = await self.http.get(self.url("ingest", f"/fhir/uploads/{receipt}"), headers=signed)
            return r.status_code != 401

        await eventually(known, what=f"ingest to know hospital {hospital.code}'s keys")

    async def patient(self, rng: random.Random) -> tuple[str, str]:
        cid = random_cid(rng)
        r = await self.http.post(
            self.url("consent", "/patients"), json={"cid": cid, "birth_date": "1980-05-17"}
        )
        assert r.status_code == 201, r.text
        r = await self.http.post(self.url("consent", f"/patients/{cid}/verify"), json=DEV_SCAN)
        assert r.status_code == 200, r.text
        return cid, r.json()["access_token"]

    async def consent(self, cid: str, token: str, codes: list[str]) -> None:
        r = await self.http.post(
            self.url("consent", f"/patients/{cid}/consent/hospitals"),
            headers=auth(token),
            json={"hospitals": codes},
        )
        assert r.status_code == 200, r.text

    async def revoke(self, cid: str, token: str, code: str) -> None:
        r = await self.http.delete(
            self.url("consent", f"/patients/{cid}/consent/hospitals/{code}"), headers=auth(token)
        )
        assert r.status_code == 200, r.text

    async def physician(self, hospital: Hospital, licence: str, pin: str = "4321") -> str:
        r = await self.http.post(
            self.url("query", "/registry/licences"),
            headers=OPERATOR,
            json={"licence": licence, "name": "นพ. ทดสอบ", "pin": pin},
        )
        assert r.status_code == 201, r.text

        async def rostered() -> httpx.Response | None:
            # The query service learns a new hospital's admin key from its event: a 401
            # until then.
            r = await self.http.post(
                self.url("query", f"/hospitals/{hospital.code}/physicians"),
                headers=auth(hospital.admin_key),
                json={"licence": licence},
            )
            return None if r.status_code == 401 else r

        r = await eventually(rostered, what=f"hospital {hospital.code}'s admin key known to query")
        assert r.status_code == 201, r.text

        async def signed_in() -> httpx.Response | None:
            # The query service learns of a new hospital from its event: eventually.
            r = await self.http.post(
                self.url("query", "/auth/token"),
                json={"licence": licence, "pin": pin, "hospital": hospital.code},
            )
            return r if r.status_code == 200 else None

        r = await eventually(signed_in, what="physician sign-in")
        token: str = r.json()["access_token"]
        return token

    async def smart_physician(self, hospital: Hospital, licence: str, pin: str) -> None:
        """The physician in the auth service too (its licence mirror and the hospital's
        roster there, with the development operator's token): until phase 2 a SMART
        sign-in needs both (docs/auth.md)."""
        key_file = self.platform.log_dir / "auth" / "dev-operator.jwk"
        key = ECKey.import_key(json.loads(key_file.read_text()))
        token_url = self.url("auth", "/token")
        scope = "system/Practitioner.cruds system/PractitionerRole.cruds"
        form = token_form(key, "dev-operator", token_url, scope)
        r = await self.http.post(token_url, data=form)
        assert r.status_code == 200, r.text
        op = auth(str(r.json()["access_token"]))
        r = await self.http.post(
            self.url("auth", "/licences"),
            headers=op,
            json={"licence": licence, "name": "นพ. ทดสอบ", "pin": pin},
        )
        assert r.status_code in (201, 409), r.text

        async def on_roster() -> bool:  # auth learns of the hospital from its event
            r = await self.http.post(
                self.url("auth", f"/hospitals/{hospital.code}/physicians"),
                headers=op,
                json={"licence": licence},
            )
            return r.status_code in (200, 201)

        await eventually(on_roster, what=f"the physician on {hospital.code}'s roster in auth")

    async def everything(self, token: str, cid: str) -> httpx.Response:
        return await self.http.get(
            self.url("query", f"/fhir/Patient/{cid}/$everything"), headers=auth(token)
        )

    async def records(self, token: str, cid: str, at_least: int = 1) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            r = await self.everything(token, cid)
            body: dict[str, Any] = r.json()
            return body if r.status_code == 200 and body["total"] >= at_least else None

        return await eventually(probe, what="records visible to the physician")
