"""Operators' commands change state only through the services' operator APIs.

``healthlink hospitals add/provider`` call the consent service, ``healthlink
physicians load`` the query service: with the operator's token they work, with a
wrong one they are refused, and nothing is written behind a service's back.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import httpx
import pytest

from services.query.physicians import hash_pin
from shared.settings import Settings
from tests.support.cli import healthlink
from tests.support.journey import Actors, Hospital, auth, eventually
from tests.support.platform import Platform, free_port

pytestmark = pytest.mark.e2e


async def test_hospitals_and_licences_are_loaded_through_the_operator_apis(
    actors: Actors, platform: Platform, settings: Settings, tmp_path: Path
) -> None:
    rng = random.Random(93)
    code = f"{rng.randint(19000, 19999)}"
    consent, query = ["--url", platform.url("consent")], ["--url", platform.url("query")]
    added = await healthlink(settings, "hospitals", "add", code, "CLI Hospital", *consent)
    assert added.exit_code == 0, added.stderr
    hospital = json.loads(added.stdout)
    assert (hospital["code"], hospital["role"]) == (code, "consumer")
    promoted = await healthlink(settings, "hospitals", "provider", code, *consent)
    assert promoted.exit_code == 0 and json.loads(promoted.stdout)["role"] == "provider"
    again = await healthlink(settings, "hospitals", "add", code, "CLI Hospital", *consent)
    assert again.exit_code == 1 and "refused (409)" in again.stderr

    licences = tmp_path / "licences.csv"
    with licences.open("w", newline="", encoding="utf-8") as fh:
        rows = csv.writer(fh)  # quoted where needed: an argon2id hash holds commas
        rows.writerow(["licence", "name", "pin", "pin_hash"])
        rows.writerow(["93001", "นพ. หนึ่ง", "9301", ""])
        rows.writerow(["93002", "พญ. สอง", "", hash_pin("9302")])
    loaded = await healthlink(settings, "physicians", "load", str(licences), *query)
    assert loaded.exit_code == 0 and loaded.stdout.strip() == "loaded 2 licences", loaded.stderr

    # The query service holds them: the hospital's staff add both, and both sign in.
    staff = Hospital(code, hospital["admin_key"], hospital["upload_key"])
    for licence, pin in (("93001", "9301"), ("93002", "9302")):
        r = await actors.http.post(
            actors.url("query", f"/hospitals/{code}/physicians"),
            headers=auth(staff.admin_key),
            json={"licence": licence},
        )
        assert r.status_code == 201, r.text

        async def signed_in(licence: str = licence, pin: str = pin) -> httpx.Response | None:
            r = await actors.http.post(
                actors.url("query", "/auth/token"),
                json={"licence": licence, "pin": pin, "hospital": code},
            )
            return r if r.status_code == 200 else None

        token = await eventually(signed_in, what=f"licence {licence} signs in")

    # Suspended: the hospital's physicians read nothing, its Kafka login is gone.
    suspended = await healthlink(settings, "hospitals", "suspend", code, *consent)
    assert suspended.exit_code == 0, suspended.stderr
    answer = json.loads(suspended.stdout)
    assert answer["active"] is False and answer["kafka"]["credential_deleted"] is True
    patient, _ = await actors.patient(rng)

    async def refused() -> bool:
        r = await actors.everything(token.json()["access_token"], patient)
        return r.status_code == 403 and "hospital" in r.text

    await eventually(refused, what="the suspension reaching query")
    reinstated = await healthlink(settings, "hospitals", "reinstate", code, *consent)
    assert reinstated.exit_code == 0, reinstated.stderr
    back = json.loads(reinstated.stdout)
    assert back["active"] is True and back["kafka"]["password"]


async def test_refusals_and_unreachable_services_exit_non_zero(
    platform: Platform, settings: Settings, tmp_path: Path
) -> None:
    licences = tmp_path / "licences.csv"
    licences.write_text("licence,name,pin\n93003,นพ. สาม,9303\n", encoding="utf-8")
    query = ["--url", platform.url("query")]
    stranger = settings.model_copy(update={"admin_token": "not-the-operator"})
    refused = await healthlink(stranger, "physicians", "load", str(licences), *query)
    assert refused.exit_code == 1 and "refused (401)" in refused.stderr

    nobody = ["--url", f"http://127.0.0.1:{free_port()}"]
    unreachable = await healthlink(settings, "physicians", "load", str(licences), *nobody)
    assert unreachable.exit_code == 2 and "unreachable" in unreachable.stderr

    licences.write_text("licence,name,pin\nabc,,1\n", encoding="utf-8")
    invalid = await healthlink(settings, "physicians", "load", str(licences), *query)
    assert invalid.exit_code == 2 and "line 2" in invalid.stderr
