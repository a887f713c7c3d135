"""The demo data set ``make up`` loads, and the curl commands it prints.

Two provider hospitals send records for one patient, who consented to one of them;
a physician at a third (consumer) hospital reads. Every command printed is run by
``tests/e2e/test_demo.py`` exactly as printed. Everything goes through the
services' APIs as operators, hospitals and patients would use them: hospitals
and licences through the operator APIs, the roster with the hospital's admin key,
records through the hospital adapter package with the hospital's upload key. The
physician is loaded into the auth service too (licence and roster, with the development
operator's SMART Backend Services token), so the printed SMART commands work: a token
through the sign-in page (``healthlink auth physician-token``), then FHIR reads with it;
and so does the physician viewer's sign-in, which is that page too (the auth service
registers the viewer as a SMART app at its start, docs/portal.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from healthlink_adapter import JwsSigner, KafkaUploader
from healthlink_adapter.smart import token_form
from joserfc.jwk import ECKey

from healthlink.demokeys import join, patient_command, patient_token
from healthlink.hospitalkeys import key_path, load_or_make
from healthlink.synthetic import make_patient_bundle
from shared.kafka_admin import hospital_connection
from shared.settings import SERVICE_PORTS, Settings

DEMO_CID = "1101700230708"
SOURCE, OTHER, READER = "10670", "13781", "11535"
HOSPITALS = {
    SOURCE: ("Siriraj Hospital", "provider"),
    OTHER: ("Ramathibodi Hospital", "provider"),
    READER: ("King Chulalongkorn Memorial Hospital", "consumer"),
}
LICENCE, PIN = "10001", "2468"
DEV_SCAN = "dev-face-scan-ok"
PY_TOKEN = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"


@dataclass(frozen=True)
class Step:
    title: str
    command: str
    expect: str  # a fragment the output contains when the step works


def default_urls(settings: Settings) -> dict[str, str]:
    return {s: f"http://127.0.0.1:{settings.port(s)}" for s in SERVICE_PORTS}


def default_data_dir() -> Path:
    """Where the auth service keeps the development operator's key (services.sh's)."""
    return Path(os.environ.get("HEALTHLINK_DATA_DIR", ".data")).resolve()


async def operator_token(http: httpx.AsyncClient, auth_url: str, data_dir: Path) -> str:
    """The development operator's SMART Backend Services token (private_key_jwt)."""
    key = ECKey.import_key(json.loads((data_dir / "auth" / "dev-operator.jwk").read_text()))
    token_url = f"{auth_url}/token"
    scope = "system/Practitioner.cruds system/PractitionerRole.cruds"
    r = await http.post(token_url, data=token_form(key, "dev-operator", token_url, scope))
    r.raise_for_status()
    return str(r.json()["access_token"])


async def load_smart_physician(http: httpx.AsyncClient, auth_url: str, data_dir: Path) -> None:
    """The demo physician in the auth service's licence mirror and on its roster."""
    operator = {"authorization": f"Bearer {await operator_token(http, auth_url, data_dir)}"}
    r = await http.post(
        f"{auth_url}/licences",
        headers=operator,
        json={"licence": LICENCE, "name": "นพ. สมชาย ใจดี", "pin": PIN},
    )
    r.raise_for_status()
    deadline = time.monotonic() + 60
    while True:  # auth learns of the hospital from its event
        r = await http.post(
            f"{auth_url}/hospitals/{READER}/physicians", headers=operator, json={"licence": LICENCE}
        )
        if r.status_code in (200, 201) or time.monotonic() > deadline:
            r.raise_for_status()
            return
        await asyncio.sleep(0.3)


async def load(settings: Settings, urls: dict[str, str], data_dir: Path | None = None) -> str:
    """Idempotent: safe to run again on a running platform. Returns the demo hospital's
    admin key (new on every run after the first: only its hash is kept, so it is rotated)."""
    operator = {"authorization": f"Bearer {settings.admin_token}"}
    where = data_dir or default_data_dir()
    async with httpx.AsyncClient(timeout=30) as http:
        admin_key = await join(http, urls["consent"], operator, HOSPITALS, READER, where)
        r = await http.post(
            f"{urls['query']}/registry/licences",
            headers=operator,
            json={"licence": LICENCE, "name": "นพ. สมชาย ใจดี", "pin": PIN},
        )
        r.raise_for_status()
        r = await http.post(
            f"{urls['query']}/hospitals/{READER}/physicians",
            headers={"authorization": f"Bearer {admin_key}"},
            json={"licence": LICENCE},
        )
        r.raise_for_status()
        r = await http.post(
            f"{urls['consent']}/patients", json={"cid": DEMO_CID, "birth_date": "1975-03-14"}
        )
        if r.status_code != 409:
            r.raise_for_status()
        token = await asyncio.to_thread(patient_token, DEMO_CID, DEV_SCAN, urls, where)
        patient = {"authorization": f"Bearer {token}"}
        r = await http.post(
            f"{urls['consent']}/patients/{DEMO_CID}/consent/hospitals",
            headers=patient,
            json={"hospitals": [SOURCE]},
        )
        r.raise_for_status()
        await load_smart_physician(http, urls["auth"], where)
    rng = random.Random(42)
    for code in (SOURCE, OTHER):
        async with KafkaUploader(
            await hospital_connection(settings, code),
            code,
            JwsSigner(load_or_make(key_path(where, code))),
            settings.topic_prefix,
        ) as uploader:
            await uploader.send(
                make_patient_bundle(rng, cid=DEMO_CID, hospital_code=code, n_resources=25)
            )
    await wait_visible(urls)
    return admin_key


async def wait_visible(urls: dict[str, str], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=30) as http:
        doctor: dict[str, str] = {}
        while time.monotonic() < deadline:
            if not doctor:  # the query service learns of the hospital from its event
                r = await http.post(
                    f"{urls['query']}/auth/token",
                    json={"licence": LICENCE, "pin": PIN, "hospital": READER},
                )
                if r.status_code != 200:
                    await asyncio.sleep(0.3)
                    continue
                doctor = {"authorization": f"Bearer {r.json()['access_token']}"}
            r = await http.get(
                f"{urls['query']}/fhir/Patient/{DEMO_CID}/$everything", headers=doctor
            )
            if r.status_code == 200 and r.json().get("total", 0) > 0:
                return
            await asyncio.sleep(0.3)
    raise TimeoutError("demo records did not become visible")


def smart_token(urls: dict[str, str], data_dir: Path) -> str:
    """The demo physician's SMART access token through the sign-in page (code + PKCE)."""
    command = [
        sys.executable, "-m", "healthlink", "auth", "physician-token", "--licence", LICENCE,
        "--pin", PIN, "--hospital", READER, "--url", urls["auth"],
        "--audience", f"{urls['query']}/fhir",
    ]  # fmt: skip
    return f"STOKEN=$(HEALTHLINK_DATA_DIR={shlex.quote(str(data_dir))} {shlex.join(command)})"


def steps(urls: dict[str, str], data_dir: Path | None = None) -> list[Step]:
    q, c, n, a = urls["query"], urls["consent"], urls["notify"], urls["audit"]
    smart = smart_token(urls, data_dir or default_data_dir())
    doctor = (
        f"TOKEN=$(curl -s -X POST {q}/auth/token -H 'content-type: application/json' "
        f'-d \'{{"licence":"{LICENCE}","pin":"{PIN}","hospital":"{READER}"}}\' '
        f"| {PY_TOKEN})"
    )
    patient = patient_command(DEMO_CID, DEV_SCAN, urls, data_dir or default_data_dir())
    read = (
        f"curl -s -w '\\nHTTP %{{http_code}}\\n' '{q}/fhir/Patient/{DEMO_CID}/$everything' "
        '-H "authorization: Bearer $TOKEN"'
    )
    return [
        Step(
            "A physician at Chulalongkorn reads the patient (consented: Siriraj only)",
            f"{doctor}\n{read}",
            "HTTP 200",
        ),
        Step(
            "The same read with a SMART access token (the sign-in page's code flow + PKCE)",
            f"{smart}\n{read.replace('$TOKEN', '$STOKEN')}",
            "HTTP 200",
        ),
        Step(
            "The patient as Health Link knows them (FHIR read), with the SMART token",
            f"{smart}\ncurl -s '{q}/fhir/Patient/{DEMO_CID}' -H \"authorization: Bearer $STOKEN\"",
            f'"resourceType":"Patient","id":"{DEMO_CID}"',
        ),
        Step(
            "The patient's inbox: who read their record",
            f"{patient}\ncurl -s '{n}/patients/{DEMO_CID}/inbox' "
            '-H "authorization: Bearer $PTOKEN"',
            "record-accessed",
        ),
        Step(
            "The patient's access log (audit)",
            f"{patient}\ncurl -s '{a}/patients/{DEMO_CID}/accesses' "
            '-H "authorization: Bearer $PTOKEN"',
            "permit",
        ),
        Step(
            "The patient revokes Siriraj",
            f"{patient}\ncurl -s -X DELETE '{c}/patients/{DEMO_CID}/consent/hospitals/{SOURCE}' "
            '-H "authorization: Bearer $PTOKEN"',
            '"hospitals":[]',
        ),
        Step(
            "The same read is now denied (wait a moment after revoking)",
            f"sleep 1\n{doctor}\n{read}",
            "HTTP 403",
        ),
        Step(
            "The patient consents to Siriraj again",
            f"{patient}\ncurl -s -X POST '{c}/patients/{DEMO_CID}/consent/hospitals' "
            "-H \"authorization: Bearer $PTOKEN\" -H 'content-type: application/json' "
            f'-d \'{{"hospitals":["{SOURCE}"]}}\'',
            f'"{SOURCE}"',
        ),
    ]


def render(
    urls: dict[str, str], data_dir: Path | None = None, console_key: str | None = None
) -> str:
    """What ``make up`` prints; ``console_key``: the demo hospital's admin key for the
    hospital console's sign-in (a development stack's only)."""
    lines = ["", "Health Link is running:"]
    lines += [f"  {s:<8} {u}   (OpenAPI: {u}/docs)" for s, u in urls.items()]
    lines += [
        "",
        f"Demo patient CID {DEMO_CID}; physician licence {LICENCE} at {READER}.",
    ]
    if "portal" in urls:
        lines += [
            f"Physician viewer (web, Thai/English; a SMART on FHIR app): {urls['portal']}/",
            "  Sign in takes you to the auth service's sign-in page"
            f" (open the viewer at exactly this address: {urls['portal']}/callback is"
            " its registered redirect URI);",
            f"  there: licence {LICENCE}, PIN {PIN}, hospital {READER};"
            f" back in the viewer look up CID {DEMO_CID}",
            f"Patient portal (web, phone-first, Thai/English): {urls['portal']}/patient/",
            f"  Sign in with Health Link: CID {DEMO_CID}, the code in"
            f" {(data_dir or default_data_dir()) / 'otp' / DEMO_CID}.txt,"
            " the development scan (dev-face-scan-ok)",
            f"Hospital console (web, phone-first, Thai/English): {urls['portal']}/hospital/",
            f"  sign in: hospital {READER} with its admin key"
            + (
                f" {console_key}"
                if console_key
                else f" (new one: healthlink hospitals admin-key {READER})"
            ),
            f"Operator view (web, phone-first, Thai/English): {urls['portal']}/operator/",
            "  sign in with your named token (it lasts 5 minutes):"
            " .venv/bin/healthlink operators token YOUR-NAME",
            "  (once before: .venv/bin/healthlink operators add YOUR-NAME --role operator;"
            " --role auditor reads only)",
        ]
    lines += [
        "Try these (copy each block into a shell):",
        "",
    ]
    for i, step in enumerate(steps(urls, data_dir), 1):
        lines += [f"# {i}. {step.title}", step.command, ""]
    return "\n".join(lines)


async def run(settings: Settings, urls: dict[str, str] | None = None) -> None:
    found = urls or default_urls(settings)
    key = await load(settings, found)
    development = settings.environment != "production"
    print(render(found, console_key=key if development else None))
