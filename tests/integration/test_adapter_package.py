"""The hospital adapter installs alone: a fresh virtual environment, ``pip install``, no platform.

Then, from that environment, it does a hospital's job against the real broker:
reads a data request addressed to it and answers with a signed upload.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from healthlink_adapter import contract
from healthlink_adapter.signing import new_key, public_jwk, verify_detached

from healthlink.synthetic import make_patient_bundle
from services.consent.consents import data_request
from shared import topics
from shared.events import topic_of
from shared.kafka_admin import hospital_connection
from shared.kafka_client import ADMIN, client_options
from shared.kafka_topics import ensure_topics
from shared.settings import Settings
from tests.support.kafka import publish_raw

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "clients" / "healthlink-adapter"
PLATFORM_ONLY = ("fastapi", "pymongo", "fhir.resources", "faststream", "argon2-cffi", "healthlink")
HOSPITAL = "10670"
CID = "1101700230708"

# What a hospital's own program does with the package (run inside the fresh venv).
HOSPITAL_PROGRAM = """
import asyncio, json, sys
from healthlink_adapter import DataRequestReader, JwsSigner, KafkaUploader
from healthlink_adapter.kafka import KafkaConnection

async def main(login, prefix, hospital, key_file, bundle_file):
    bootstrap = KafkaConnection(**json.loads(login))  # the login the platform gave it
    bundle = json.loads(open(bundle_file, encoding="utf-8").read())
    async with (
        DataRequestReader(bootstrap, hospital, prefix) as requests,
        KafkaUploader(bootstrap, hospital, JwsSigner.from_file(key_file), prefix) as uploader,
    ):
        async for request in requests:
            print(await uploader.send(bundle, "answer-" + request.id, request_id=request.id))
            return

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m venv`` + ``pip install clients/healthlink-adapter``, as a hospital would.

    From a copy of the package: building it writes ``build/`` next to its sources.
    """
    where = tmp_path_factory.mktemp("hospital")
    source = where / "healthlink-adapter"
    shutil.copytree(ADAPTER, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    venv = where / "venv"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(source)]
    subprocess.run(pip, check=True, timeout=600, env={**os.environ, "PIP_NO_INPUT": "1"})
    print(f"fresh venv with the adapter in {time.monotonic() - started:.1f} s")
    return venv


def test_installs_without_the_platform_and_imports_none_of_it(fresh_venv: Path) -> None:
    python = str(fresh_venv / "bin" / "python")
    listed = subprocess.run(
        [python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    )
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "healthlink-adapter" in installed
    assert not installed & set(PLATFORM_ONLY)
    probe = "import json, sys, healthlink_adapter; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(
        subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout
    )
    roots = {name.split(".")[0] for name in loaded}
    assert not roots & {"fastapi", "pymongo", "fhir", "shared", "services", "healthlink"}


async def test_a_hospital_answers_its_data_request_from_the_fresh_install(
    fresh_venv: Path, settings: Settings, tmp_path: Path
) -> None:
    await ensure_topics(settings)
    key = new_key("hospital-1")  # the hospital's own, in a file only it reads
    key_file = tmp_path / "hospital.jwk"
    key_file.write_text(json.dumps(key.as_dict(private=True) | {"kid": key.kid}))
    bundle = make_patient_bundle(random.Random(5), cid=CID, hospital_code=HOSPITAL, n_resources=4)
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    now = datetime.now(UTC)
    other = data_request(CID, "13781", "consent.granted", "req-other", now)
    mine = data_request(CID, HOSPITAL, "consent.granted", "req-mine", now)
    login = json.dumps(dataclasses.asdict(await hospital_connection(settings, HOSPITAL)))
    await hospital_connection(settings, "13781")
    for event in (other, mine):  # another hospital's request, on its own topic: never seen
        await publish_raw(settings, topic_of(event), event.model_dump_json().encode(),
                          key=event.subject.encode())  # fmt: skip
    args = [login, settings.topic_prefix, HOSPITAL, str(key_file), str(bundle_file)]
    program = [str(fresh_venv / "bin" / "python"), "-c", HOSPITAL_PROGRAM, *args]
    done = await asyncio.to_thread(
        subprocess.run, program, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "answer-req-mine"

    record = await first_upload(settings)
    headers = {k: v.decode() for k, v in record.headers}
    assert headers[contract.HOSPITAL_HEADER] == HOSPITAL
    assert headers[contract.REQUEST_ID_HEADER] == "req-mine"
    assert headers[contract.UPLOAD_ID_HEADER] == "answer-req-mine"
    assert record.key == CID.encode()
    signature = headers[contract.SIGNATURE_HEADER]
    assert verify_detached([public_jwk(key)], record.value, signature) == "hospital-1"
    assert json.loads(record.value) == bundle


async def first_upload(settings: Settings) -> Any:
    consumer = AIOKafkaConsumer(
        topics.named(topics.INGEST_UPLOADS, settings.topic_prefix),
        **client_options(settings, ADMIN),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        return await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
