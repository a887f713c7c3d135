"""Steps users take, as small functions over HTTP and the adapter, shared by e2e tests."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from healthlink_adapter import JwsSigner, KafkaUploader
from healthlink_adapter.contract import HOSPITAL_HEADER, SIGNATURE_HEADER
from healthlink_adapter.smart import token_form
from joserfc.jwk import ECKey

from shared.cid import random_cid
from shared.kafka_admin import hospital_connection
from shared.settings import Settings
from tests.support.auth import REDIRECT, Browser, code_of, pkce
from tests.support.credentials import public_key, signer
from tests.support.platform import Platform
from tests.support.settings import TEST_ADMIN

T = TypeVar("T")
ADMIN_KEYS: dict[str, str] = {}  # each hospital's admin key, as this process last got it
OPERATOR = {"authorization": f"Bearer {TEST_ADMIN}"}
DEV_SCAN = {"scan": "dev-face-scan-ok"}
WALLET_APP = "journey-wallet"  # the wallet app's SMART client at the auth service
WALLET_REGISTERED: set[Path] = set()  # the platforms (data dirs) it is registered on


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
        """A new patient, registered at consent, and their own access token from the
        auth service's wallet flow: CID → the code the development sender wrote to the
        data dir → device session → face scan (consent's verification) → the code
        exchanged (PKCE). Consent no longer gives patients tokens."""
        cid = random_cid(rng)
        r = await self.http.post(
            self.url("consent", "/patients"), json={"cid": cid, "birth_date": "1980-05-17"}
        )
        assert r.status_code == 201, r.text
        return cid, await self.wallet_token(cid)

    async def wallet_client(self) -> None:
        """The wallet's SMART app, registered once per platform by the development
        operator (a 409: an earlier test registered it)."""
        if self.platform.log_dir in WALLET_REGISTERED:
            return
        op = await self.operator_headers("system/Practitioner.cruds")
        client = {"kind": "smart-app", "client_id": WALLET_APP, "redirect_uris": [REDIRECT]}
        r = await self.http.post(self.url("auth", "/clients"), headers=op, json=client)
        assert r.status_code in (201, 409), r.text
        WALLET_REGISTERED.add(self.platform.log_dir)

    @asynccontextmanager
    async def wallet_at_scan(self, cid: str) -> AsyncIterator[tuple[Browser, str]]:
        """The wallet's sign-in up to the face scan: the SMART launch (PKCE), the code
        the development sender wrote to the data dir, the device session. Yields the
        page and the PKCE verifier."""
        await self.wallet_client()
        verifier, challenge = pkce()
        query = {
            "response_type": "code",
            "client_id": WALLET_APP,
            "redirect_uri": REDIRECT,
            "scope": "openid fhirUser launch/patient patient/*.rs",
            "state": "journey",
            "aud": self.url("query", "/fhir"),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        async with httpx.AsyncClient(timeout=30) as own:  # its own cookies
            browser = Browser(own)
            r = await browser.open(self.url("auth", "/authorize?") + urlencode(query))
            assert r.status_code == 200, r.text

            async def code_sent() -> bool:
                r = await browser.post(self.url("auth", "/authorize/patient/code"), cid=cid)
                assert r.status_code in (200, 404), r.text  # 404: registration not heard yet
                return r.status_code == 200

            await eventually(code_sent, what="the patient's registration to reach auth")
            code = (self.platform.log_dir / "otp" / f"{cid}.txt").read_text().strip()
            r = await browser.post(self.url("auth", "/authorize/patient/session"), code=code)
            assert r.status_code == 200, r.text
            yield browser, verifier

    async def scan(self, browser: Browser, scan: str) -> httpx.Response:
        """The face scan on the wallet's page (consent's verification decides)."""
        return await browser.post(self.url("auth", "/authorize/patient/scan"), scan=scan)

    async def exchange(self, back: httpx.Response, verifier: str) -> str:
        """The wallet app trades the code it came back with for the patient's token."""
        form = {
            "grant_type": "authorization_code",
            "code": code_of(back)["code"],
            "redirect_uri": REDIRECT,
            "client_id": WALLET_APP,
            "code_verifier": verifier,
        }
        r = await self.http.post(self.url("auth", "/token"), data=form)
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token

    async def wallet_token(self, cid: str) -> str:
        """The patient's access token through the auth service's wallet sign-in."""
        async with self.wallet_at_scan(cid) as (browser, verifier):
            back = await self.scan(browser, DEV_SCAN["scan"])
        return await self.exchange(back, verifier)

    async def operator_headers(self, scope: str) -> dict[str, str]:
        """The development operator's access token (its key, written by auth at start)."""
        key_file = self.platform.log_dir / "auth" / "dev-operator.jwk"
        key = ECKey.import_key(json.loads(key_file.read_text()))
        token_url = self.url("auth", "/token")
        r = await self.http.post(token_url, data=token_form(key, "dev-operator", token_url, scope))
        assert r.status_code == 200, r.text
        return auth(str(r.json()["access_token"]))

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
        op = await self.operator_headers("system/Practitioner.cruds system/PractitionerRole.cruds")
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
