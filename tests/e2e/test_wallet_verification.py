"""Issue 12, at consent's door: only the auth service's wallet may make a face-scan
attempt, so a stranger who knows a CID cannot use up the patient's 5 daily attempts
(and so stop them revoking a consent for a day). Real services, on a platform of this
module's own (``ops``): the session platform's auth shares its database with the browser
tests' platforms, whose auth services register their own development keys there."""

from __future__ import annotations

import random

import pytest

from shared.cid import random_cid
from tests.support.journey import DEV_SCAN, Actors, auth

pytestmark = pytest.mark.e2e


async def registered(ops: Actors, rng: random.Random) -> str:
    cid = random_cid(rng)
    r = await ops.http.post(
        ops.url("consent", "/patients"), json={"cid": cid, "birth_date": "1980-05-17"}
    )
    assert r.status_code == 201, r.text
    return cid


async def test_a_stranger_cannot_use_up_a_patients_attempts(ops: Actors) -> None:
    rng = random.Random()
    cid = await registered(ops, rng)
    _, someone_else = await ops.patient(rng)  # a valid token, but a patient's
    operator = await ops.operator_headers("system/Practitioner.cruds")
    verify = ops.url("consent", f"/patients/{cid}/verify")
    session = {"hl-wallet-session": "0" * 32}
    for _ in range(10):  # twice the day's attempts, with no wallet credential
        r = await ops.http.post(verify, json={"scan": "not me"}, headers=session)
        assert r.status_code == 401, r.text
        assert r.json()["resourceType"] == "OperationOutcome"
    for headers in (auth(someone_else), operator):  # valid tokens, not the wallet's
        for _ in range(3):
            r = await ops.http.post(verify, json=DEV_SCAN, headers={**headers, **session})
            assert r.status_code == 403, r.text
            assert "access_token" not in r.text
    # the patient's 5 attempts are intact: 4 wrong scans and the right one still sign in
    async with ops.wallet_at_scan(cid) as (browser, verifier):
        for _ in range(4):
            r = await ops.scan(browser, "not me")
            assert r.status_code == 401, "consent counted a failed scan"
        back = await ops.scan(browser, DEV_SCAN["scan"])
    token = await ops.exchange(back, verifier)
    r = await ops.http.get(ops.url("consent", f"/patients/{cid}/consent"), headers=auth(token))
    assert r.status_code == 200, r.text


async def test_wrong_scans_through_the_wallet_count(ops: Actors) -> None:
    cid = await registered(ops, random.Random())
    async with ops.wallet_at_scan(cid) as (browser, _):
        for _ in range(5):
            r = await ops.scan(browser, "not me")
            assert r.status_code == 401, r.text
        r = await ops.scan(browser, DEV_SCAN["scan"])  # the sixth: refused for the day
        assert r.status_code == 429, r.text
        assert "5" in r.text
