"""Replaying the consent and hospital topics into an empty database gives the live state."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.consent.rebuild import rebuild, snapshot
from shared.cid import random_cid
from shared.database import make_client
from shared.settings import Settings
from tests.support.inprocess import running
from tests.support.journey import DEV_SCAN, OPERATOR, auth, eventually
from tests.support.system_tokens import patient_token, verifier, wallet

pytestmark = pytest.mark.integration


async def patient(http: httpx.AsyncClient, cid: str) -> dict[str, str]:
    r = await http.post("/patients", json={"cid": cid, "birth_date": "1975-02-28"})
    assert r.status_code == 201, r.text
    r = await http.post(f"/patients/{cid}/verify", json={"scan": "wrong"}, headers=wallet())
    assert r.status_code == 401, r.text
    r = await http.post(f"/patients/{cid}/verify", json=DEV_SCAN, headers=wallet())
    assert r.status_code == 200, r.text
    return auth(patient_token(cid))  # the auth service's wallet flow gives it


async def activity(http: httpx.AsyncClient, rng: random.Random) -> None:
    """Every kind of change: hospitals join and change, consents granted, revoked, expired."""
    for code, role, mode in (
        ("10670", "provider", "standing"),
        ("11535", "consumer", "per-visit"),
        ("13781", "provider", "standing"),
    ):
        body = {"code": code, "name": f"H{code}", "role": role, "consent_mode": mode}
        r = await http.post("/hospitals", headers=OPERATOR, json=body)
        assert r.status_code == 201, r.text
    one, two = random_cid(rng), random_cid(rng)
    me, you = await patient(http, one), await patient(http, two)
    steps = [
        ("post", f"/patients/{one}/consent/hospitals", me, {"hospitals": ["10670", "13781"]}),
        ("delete", f"/patients/{one}/consent/hospitals/13781", me, None),
        ("put", f"/patients/{one}/consent/sensitive", me, {"allowed": True}),
        ("put", f"/patients/{two}/consent/all", you, None),
        ("patch", "/hospitals/11535", OPERATOR, {"role": "provider"}),
    ]
    for method, url, headers, body in steps:
        r = await http.request(method, url, headers=headers, json=body)
        assert r.status_code == 200, r.text
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    for until in (soon, later):
        visit = {"requesting_hospital": "11535", "sources": ["10670"], "until": until}
        r = await http.post(f"/patients/{one}/consent/visits", headers=me, json=visit)
        assert r.status_code == 201, r.text

    async def expired() -> bool:
        r = await http.get(f"/patients/{one}/consent", headers=me)
        return len(r.json()["per_visit"]) == 1

    await eventually(expired, what="the short per-visit consent to expire")


async def test_replay_into_an_empty_database_reproduces_the_live_state(settings: Settings) -> None:
    async with running("consent", settings) as (app, http):
        app.state.token_verifier = verifier()  # the auth service's wallet and patients
        await activity(http, random.Random(3))
    client = make_client(settings)
    try:
        live = client[settings.db_name("consent")]
        rebuilt = client[settings.db_name("consent_rebuilt")]
        assert await rebuild(settings, rebuilt) > 0
        expected = await snapshot(live)
        assert len(expected["consents"]) == 2 and len(expected["hospitals"]) == 3
        assert len(expected["patients"]) == 2
        assert await snapshot(rebuilt) == expected
        await rebuild(settings, rebuilt)  # a second replay changes nothing
        assert await snapshot(rebuilt) == expected
    finally:
        await client.close()
