"""Operators' commands change state only through the services' operator APIs.

``healthlink hospitals add/provider`` call the consent service, ``healthlink
physicians load`` the query service: with the operator's token they work, with a
wrong one they are refused, and nothing is written behind a service's back.
"""

from __future__ import annotations

import csv
import json
import random
import uuid
from pathlib import Path

import httpx
import pytest
from healthlink_adapter import JwsSigner

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
    # Its signing key made and registered, its admin key rotated: the new one is the key.
    key_file = tmp_path / "hospital.jwk"
    made = await healthlink(settings, "hospitals", "keygen", code, "--out", str(key_file), *consent)
    assert made.exit_code == 0, made.stderr
    kid = json.loads(made.stdout)["kid"]
    assert key_file.stat().st_mode & 0o777 == 0o600 and '"d"' in key_file.read_text()
    assert [k["kid"] for k in json.loads(made.stdout)["hospital"]["signing_keys"]] == [kid]
    assert '"d"' not in made.stdout, "the private key is written to its file only"
    rotated = await healthlink(settings, "hospitals", "admin-key", code, *consent)
    assert rotated.exit_code == 0, rotated.stderr
    admin_key = json.loads(rotated.stdout)["admin_key"]
    assert admin_key != hospital["admin_key"]
    staff = Hospital(code, admin_key, JwsSigner.from_file(key_file))
    for licence, pin in (("93001", "9301"), ("93002", "9302")):

        async def rostered(licence: str = licence) -> httpx.Response | None:
            r = await actors.http.post(  # a 401 until query has the rotated key's event
                actors.url("query", f"/hospitals/{code}/physicians"),
                headers=auth(staff.admin_key),
                json={"licence": licence},
            )
            return None if r.status_code == 401 else r

        r = await eventually(rostered, what=f"licence {licence} on the roster")
        assert r.status_code == 201, r.text

        async def signed_in(licence: str = licence, pin: str = pin) -> httpx.Response | None:
            r = await actors.http.post(
                actors.url("query", "/auth/token"),
                json={"licence": licence, "pin": pin, "hospital": code},
            )
            return r if r.status_code == 200 else None

        token = await eventually(signed_in, what=f"licence {licence} signs in")

    removed = await healthlink(settings, "hospitals", "remove-key", code, kid, *consent)
    assert removed.exit_code == 0 and json.loads(removed.stdout)["signing_keys"] == []

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


async def test_named_operators_act_through_the_cli_under_their_own_names(
    platform: Platform, settings: Settings
) -> None:
    """Issue 12, item 4: ``healthlink operators add`` registers people with roles at the
    auth service; the CLI acting as one (``HEALTHLINK_OPERATOR_NAME``) gets its tokens by
    ``private_key_jwt``; an auditor is refused a change; the audit log names the operator."""
    run = uuid.uuid4().hex[:6]
    operator, auditor = f"op-{run}", f"au-{run}"
    code = f"{random.Random(run).randint(16000, 16999)}"  # this test's own range
    env = {
        "HEALTHLINK_AUTH_ISSUER": platform.url("auth"),
        "HEALTHLINK_DATA_DIR": str(platform.log_dir),
    }
    for name, role in ((operator, "operator"), (auditor, "auditor")):
        added = await healthlink(settings, "operators", "add", name, "--role", role, env=env)
        assert added.exit_code == 0, added.stderr
        key = platform.log_dir / "operators" / f"{name}.jwk"
        assert key.exists() and key.stat().st_mode & 0o077 == 0
    as_operator = {**env, "HEALTHLINK_OPERATOR_NAME": operator}
    as_auditor = {**env, "HEALTHLINK_OPERATOR_NAME": auditor}
    consent = ["--url", platform.url("consent")]

    refused = await healthlink(
        settings, "hospitals", "add", code, "Named", *consent, env=as_auditor
    )
    assert refused.exit_code == 1 and "refused (403)" in refused.stderr, refused.stderr
    for command in (
        ["add", code, "Named Operator Hospital"],
        ["suspend", code],
        ["reinstate", code],
    ):
        done = await healthlink(settings, "hospitals", *command, *consent, env=as_operator)
        assert done.exit_code == 0, done.stderr

    token = await healthlink(settings, "operators", "token", auditor, env=env)
    assert token.exit_code == 0, token.stderr
    headers = {"authorization": f"Bearer {token.stdout.strip()}"}
    wanted = {"hospital.added", "hospital.suspended", "hospital.reinstated"}

    async def audited() -> set[str] | None:
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.get(
                platform.url("audit") + "/audit/records?kind=security&count=200", headers=headers
            )
        assert r.status_code == 200, r.text
        found = {
            e["body"]["data"]["action"]
            for e in r.json()["entries"]
            if e["type"] == "operator.acted"
            and e["body"]["data"]["operator"] == operator
            and e["body"]["data"]["target"] == code
        }
        return found if wanted <= found else None

    await eventually(audited, timeout_s=60, what="the named operator's actions in the audit log")
