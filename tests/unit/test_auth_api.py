"""The auth HTTP API over in-memory fakes: discovery, the sign-in page and the
authorization code + PKCE flow, backend services, refresh rotation, revocation,
introspection, the operators' API, and bad input (always a 4xx)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from joserfc.jwk import ECKey

from services.auth.app import create_app
from services.auth.domain import PLAIN_SCOPES, Client, ClientKind
from services.auth.handlers import Deps
from services.auth.otp import RecordingOtpSender
from services.auth.physicians import load_licence
from shared import smart
from shared.auth import TokenVerifier
from shared.broker import RecordingPublisher
from shared.coverage import HospitalState
from shared.errors import Unauthorized
from shared.events import (
    OperatorActed,
    PhysicianSignedIn,
    RefreshTokenReused,
    RosterChanged,
    TokenRevoked,
)
from tests.support.auth import (
    AUDIENCE,
    GOOD_SCAN,
    ISSUER,
    REDIRECT,
    Browser,
    auth_settings,
    backend_form,
    code_of,
    make_cid,
    memory_deps,
    new_key,
    pkce,
    public_jwks,
)

pytestmark = pytest.mark.unit
LICENCE, PIN, HOSPITAL = "12345", "4321", "10670"
PATIENT = make_cid("110170012345")
APP = "demo-app"
FULL_SCOPE = "launch/patient openid fhirUser offline_access patient/*.rs user/*.rs"


@dataclass
class World:
    http: httpx.AsyncClient
    deps: Deps
    operator: ECKey
    hospital: ECKey

    async def token(self, form: dict[str, str]) -> httpx.Response:
        return await self.http.post("/token", data=form)

    async def operator_token(self) -> str:
        form = backend_form(self.operator, "op-alice", f"{ISSUER}/token", "system/*.rs")
        form["scope"] = "system/Practitioner.cruds"
        r = await self.token(form)
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(
            issuer=ISSUER, audience=AUDIENCE, jwks=self.deps.ctx.keys.public_jwks()
        )


@pytest.fixture
async def world() -> AsyncIterator[World]:
    settings = auth_settings(auth_throttle_per_address="1000/minute")
    deps = memory_deps(settings)
    operator, hospital = new_key(), new_key()
    store = deps.store
    store.put_client(
        Client(APP, ClientKind.APP, "Demo app", FULL_SCOPE, redirect_uris=(REDIRECT,)), new=True
    )
    store.put_client(
        Client(
            "op-alice",
            ClientKind.OPERATOR,
            "Alice",
            "system/Practitioner.cruds",
            jwks=public_jwks(operator),
            roles=("operator",),
        ),
        new=True,
    )
    store.put_client(
        Client(
            "hosp-10670",
            ClientKind.HOSPITAL,
            "Hospital 10670",
            "system/*.rs system/PractitionerRole.crds",
            jwks=public_jwks(hospital),
            hospital=HOSPITAL,
        ),
        new=True,
    )
    state = HospitalState(code=HOSPITAL, name="Hospital", role="provider")
    await deps.view.hospitals.apply(HOSPITAL, 1, state.model_dump(mode="json"))
    await load_licence(deps, "op-alice", LICENCE, "Dr. Somchai", PIN, True)
    await deps.patients.registered(PATIENT)
    app = create_app(settings, deps=deps)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        w = World(http, deps, operator, hospital)
        r = await http.post(
            f"/hospitals/{HOSPITAL}/physicians",
            json={"licence": LICENCE},
            headers={"authorization": f"Bearer {await w.operator_token()}"},
        )
        assert r.status_code == 201, r.text
        yield w


def authorize_url(challenge: str, scope: str = FULL_SCOPE, **extra: str) -> str:
    query = {
        "response_type": "code",
        "client_id": APP,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "s-123",
        "aud": AUDIENCE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"/authorize?{urlencode(query)}"


async def physician_code(w: World, verifier_challenge: tuple[str, str]) -> str:
    _, challenge = verifier_challenge
    browser = Browser(w.http)
    await browser.open(authorize_url(challenge))
    assert browser.status == 200 and 'lang="th"' in browser.page
    r = await browser.post("/authorize/physician", licence=LICENCE, pin=PIN, hospital=HOSPITAL)
    assert r.status_code == 200 and "/authorize/launch" in r.text, r.text
    r = await browser.post("/authorize/launch", cid=PATIENT)
    query = code_of(r)
    assert query["state"] == "s-123"
    return query["code"]


async def test_discovery_lists_what_smart_apps_need(world: World) -> None:
    config = (await world.http.get("/.well-known/smart-configuration")).json()
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert "launch-standalone" in config["capabilities"]
    assert config["token_endpoint"] == f"{ISSUER}/token"
    assert config["revocation_endpoint"] == f"{ISSUER}/revoke"
    oidc = (await world.http.get("/.well-known/openid-configuration")).json()
    assert oidc["revocation_endpoint"] == f"{ISSUER}/revoke"
    jwks = (await world.http.get("/.well-known/jwks.json")).json()
    assert jwks["keys"][0]["alg"] == "ES256" and "d" not in jwks["keys"][0]


def test_discovery_names_every_scope_that_names_no_resource() -> None:
    assert [*PLAIN_SCOPES, "patient/*.rs", "user/*.rs", "system/*.rs"] == smart.SCOPES


async def test_a_physician_launch_gives_a_token_for_the_picked_patient(world: World) -> None:
    verifier, challenge = pkce()
    code = await physician_code(world, (verifier, challenge))
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": APP,
        "code_verifier": verifier,
    }
    r = await world.token(form)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["patient"] == PATIENT and "id_token" in body and "refresh_token" in body
    principal = await world.verifier().verify(body["access_token"])
    assert principal.licence == LICENCE and principal.hospital == HOSPITAL
    assert principal.patient == PATIENT and principal.may("Observation", "r")
    sent = world.deps.publisher
    assert isinstance(sent, RecordingPublisher) and sent.of(PhysicianSignedIn)
    again = await world.token(form)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    refreshed = await world.token(
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": APP}
    )
    assert refreshed.status_code == 400, "a reused code revokes the family it started"
    assert sent.of(RefreshTokenReused)


async def test_refresh_rotates_and_reuse_revokes_the_family(world: World) -> None:
    verifier, challenge = pkce()
    code = await physician_code(world, (verifier, challenge))
    first = await world.token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": APP,
            "code_verifier": verifier,
        }
    )
    old = first.json()["refresh_token"]
    second = await world.token(
        {"grant_type": "refresh_token", "refresh_token": old, "client_id": APP}
    )
    assert second.status_code == 200, second.text
    new = second.json()["refresh_token"]
    assert new != old
    reuse = await world.token(
        {"grant_type": "refresh_token", "refresh_token": old, "client_id": APP}
    )
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    after = await world.token(
        {"grant_type": "refresh_token", "refresh_token": new, "client_id": APP}
    )
    assert after.status_code == 400, "the newest token of the family is revoked too"


async def signed_in_refresh(world: World) -> str:
    verifier, challenge = pkce()
    code = await physician_code(world, (verifier, challenge))
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    r = await world.token({**form, "client_id": APP, "code_verifier": verifier})
    assert r.status_code == 200, r.text
    return str(r.json()["refresh_token"])


def refresh_form(token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": token, "client_id": APP}


async def test_revoking_a_refresh_token_ends_its_whole_family(world: World) -> None:
    first = await signed_in_refresh(world)
    rotated = await world.token(refresh_form(first))
    assert rotated.status_code == 200, rotated.text
    newest = rotated.json()["refresh_token"]
    form = {"client_id": APP, "token": newest, "token_type_hint": "refresh_token"}
    r = await world.http.post("/revoke", data=form)
    assert r.status_code == 200, r.text
    refused = await world.token(refresh_form(newest))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    sent = world.deps.publisher
    assert isinstance(sent, RecordingPublisher)
    [revoked] = sent.of(TokenRevoked)
    assert revoked.data["client_id"] == APP and revoked.data["kind"] == "refresh_token"
    assert revoked.data["subject"] == f"Practitioner/{LICENCE}" and revoked.subject == APP
    again = await world.http.post("/revoke", data=form)
    assert again.status_code == 200, "revoking twice is no error"


async def test_unknown_or_another_clients_token_is_200_and_changes_nothing(
    world: World,
) -> None:
    mine = await signed_in_refresh(world)
    other = await signed_in_refresh(world)
    unknown = await world.http.post("/revoke", data={"client_id": APP, "token": "no-such"})
    assert unknown.status_code == 200 and unknown.json() == {}
    hospital = backend_form(world.hospital, "hosp-10670", f"{ISSUER}/revoke", "")
    hospital.pop("grant_type"), hospital.pop("scope")
    r = await world.http.post("/revoke", data={**hospital, "token": mine})
    assert r.status_code == 200, r.text
    assert (await world.token(refresh_form(mine))).status_code == 200, "not revoked"
    await world.http.post("/revoke", data={"client_id": APP, "token": other})
    assert (await world.token(refresh_form(other))).status_code == 400
    sent = world.deps.publisher
    assert isinstance(sent, RecordingPublisher) and len(sent.of(TokenRevoked)) == 1


async def test_revocation_wants_the_client_authenticated(world: World) -> None:
    token = await signed_in_refresh(world)
    stranger = backend_form(new_key(), "hosp-10670", f"{ISSUER}/revoke", "")
    stranger.pop("grant_type"), stranger.pop("scope")
    r = await world.http.post("/revoke", data={**stranger, "token": token})
    assert r.status_code in (400, 401) and r.json()["error"] == "invalid_client"
    nobody = await world.http.post("/revoke", data={"token": token})
    assert nobody.status_code in (400, 401) and "error" in nobody.json()
    missing = await world.http.post("/revoke", data={"client_id": APP})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert (await world.token(refresh_form(token))).status_code == 200


async def test_pkce_is_required_and_s256_only(world: World) -> None:
    _, challenge = pkce()
    browser = Browser(world.http)
    r = await browser.open(authorize_url(challenge, code_challenge_method="plain"))
    assert r.status_code == 302 and "error=invalid_request" in r.headers["location"]
    r = await world.http.get(
        authorize_url("")[: -len("&code_challenge=&code_challenge_method=S256")]
    )
    assert r.status_code == 302 and "error=invalid_request" in r.headers["location"]
    r = await world.http.get(authorize_url(challenge, redirect_uri="http://evil.test/cb"))
    assert r.status_code == 400 and "evil" not in r.headers.get("location", "")


async def test_a_form_from_elsewhere_is_refused(world: World) -> None:
    _, challenge = pkce()
    browser = Browser(world.http)
    await browser.open(authorize_url(challenge))
    world.http.cookies.clear()  # a cross-site post carries no SameSite=Lax cookie
    r = await browser.post("/authorize/physician", licence=LICENCE, pin=PIN, hospital=HOSPITAL)
    assert r.status_code == 403 and "not from this sign-in" in r.text
    await browser.open(authorize_url(challenge))
    r = await browser.post(
        "/authorize/physician", csrf="guessed", licence=LICENCE, pin=PIN, hospital=HOSPITAL
    )
    assert r.status_code == 403


async def test_wrong_pins_lock_the_licence(world: World) -> None:
    _, challenge = pkce()
    browser = Browser(world.http)
    await browser.open(authorize_url(challenge))
    statuses = []
    for _ in range(7):
        r = await browser.post(
            "/authorize/physician", licence=LICENCE, pin="0000", hospital=HOSPITAL
        )
        statuses.append(r.status_code)
    assert statuses == [401] * 5 + [429] * 2
    r = await browser.post("/authorize/physician", licence=LICENCE, pin=PIN, hospital=HOSPITAL)
    assert r.status_code == 429, "locked: even the right PIN is not checked"


async def test_a_patient_signs_in_with_code_and_face_scan(world: World) -> None:
    verifier, challenge = pkce()
    browser = Browser(world.http)
    await browser.open(
        authorize_url(challenge, scope="openid fhirUser launch/patient patient/*.rs")
    )
    r = await browser.post("/authorize/patient/code", cid=PATIENT)
    assert r.status_code == 200 and 'autocomplete="one-time-code"' in r.text
    otp = world.deps.otp
    assert isinstance(otp, RecordingOtpSender)
    r = await browser.post(
        "/authorize/patient/session", code="000000" if otp.sent[PATIENT] != "000000" else "111111"
    )
    assert r.status_code == 401
    r = await browser.post("/authorize/patient/session", code=otp.sent[PATIENT])
    assert r.status_code == 200 and 'name="scan"' in r.text
    r = await browser.post("/authorize/patient/scan", scan="not-me")
    assert r.status_code == 401
    r = await browser.post("/authorize/patient/scan", scan=GOOD_SCAN)
    code = code_of(r)["code"]
    token = await world.token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": APP,
            "code_verifier": verifier,
        }
    )
    assert token.status_code == 200, token.text
    principal = await world.verifier().verify(token.json()["access_token"])
    assert principal.patient == PATIENT and principal.fhir_user == f"Patient/{PATIENT}"
    assert not principal.may("Observation", "r", ("user",))


async def test_backend_services_and_introspection(world: World) -> None:
    form = backend_form(world.hospital, "hosp-10670", f"{ISSUER}/token", "system/*.rs")
    r = await world.token(form)
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    principal = await world.verifier().verify(access)
    assert principal.hospital == HOSPITAL and principal.may("Observation", "r", ("system",))
    replay = await world.token(form)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_client"
    intro_form = backend_form(world.operator, "op-alice", f"{ISSUER}/token", "")
    intro_form.pop("grant_type"), intro_form.pop("scope")
    r = await world.http.post("/introspect", data={**intro_form, "token": access})
    assert r.status_code == 200 and r.json()["active"] is True, r.text
    revoke = backend_form(world.hospital, "hosp-10670", f"{ISSUER}/token", "")
    revoke.pop("grant_type"), revoke.pop("scope")
    assert (await world.http.post("/revoke", data={**revoke, "token": access})).status_code == 200
    intro_form = backend_form(world.operator, "op-alice", f"{ISSUER}/token", "")
    intro_form.pop("grant_type"), intro_form.pop("scope")
    r = await world.http.post("/introspect", data={**intro_form, "token": access})
    assert r.json() == {"active": False}


async def test_tampered_and_wrong_audience_tokens_are_refused(world: World) -> None:
    form = backend_form(world.hospital, "hosp-10670", f"{ISSUER}/token", "system/*.rs")
    access = (await world.token(form)).json()["access_token"]
    head, body, sig = access.split(".")
    tampered = f"{head}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{sig}"
    other = TokenVerifier(
        issuer=ISSUER, audience="http://other/fhir", jwks=world.deps.ctx.keys.public_jwks()
    )
    for verifier, token in (
        (world.verifier(), tampered),
        (other, access),
        (world.verifier(), "é.x.y"),
        (world.verifier(), "abc"),
    ):
        with pytest.raises(Unauthorized):
            await verifier.verify(token)


async def test_operators_register_clients_and_rosters_change(world: World) -> None:
    op = {"authorization": f"Bearer {await world.operator_token()}"}
    r = await world.http.post(
        "/clients",
        json={"kind": "smart-app", "client_id": "another-app", "redirect_uris": [REDIRECT]},
        headers=op,
    )
    assert r.status_code == 201, r.text
    assert (
        await world.http.post(
            "/clients",
            json={"kind": "smart-app", "client_id": "another-app", "redirect_uris": [REDIRECT]},
            headers=op,
        )
    ).status_code == 409
    form = backend_form(
        world.hospital, "hosp-10670", f"{ISSUER}/token", "system/PractitionerRole.crds"
    )
    staff = {"authorization": f"Bearer {(await world.token(form)).json()['access_token']}"}
    r = await world.http.delete(f"/hospitals/{HOSPITAL}/physicians/{LICENCE}", headers=staff)
    assert r.status_code == 200 and r.json()["physicians"] == []
    r = await world.http.delete(f"/hospitals/11535/physicians/{LICENCE}", headers=staff)
    assert r.status_code == 403
    sent = world.deps.publisher
    assert isinstance(sent, RecordingPublisher)
    assert sent.of(RosterChanged)[-1].data["state"]["licences"] == []
    assert {e.data["action"] for e in sent.of(OperatorActed)} >= {"client.registered"}


BAD_BYTES: list[Any] = ["\x00", "é", "\udcff"]


async def test_bad_bytes_never_reach_a_500(world: World) -> None:
    raw_headers = [(b"authorization", b"Bearer \xff\xfe"), (b"accept-language", b"\xe0\xb8")]
    for path in ("/clients", "/licences/12345", f"/hospitals/{HOSPITAL}/physicians"):
        r = await world.http.get(path, headers=raw_headers)
        assert r.status_code == 401, (path, r.text)
    bodies = [b"grant_type=\xff\xfe", b"code=%ff%fe", b"a=\x00", b"x" * 70_000]
    for path in ("/token", "/revoke", "/introspect"):
        for body in bodies:
            r = await world.http.post(
                path,
                content=body,
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    for path in ("/authorize/physician", "/authorize/patient/code", "/authorize/cancel"):
        r = await world.http.post(
            path,
            content=b"interaction=%ff",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 400, r.text
    r = await world.http.get("/authorize?client_id=%ff%fe&response_type=code")
    assert 400 <= r.status_code < 500
    _, challenge = pkce()
    r = await world.http.get(authorize_url(challenge) + "&%24where=1&a.b=%E0%B8%81")
    assert r.status_code == 200, "unknown parameters are ignored, never stored"
    op = {"authorization": f"Bearer {await world.operator_token()}"}
    for body in (
        {"licence": "77777", "name": "Dr.\x00", "pin": "1234"},
        {"licence": "77777", "name": "Dr. B", "pin": "12\x0034"},
    ):
        r = await world.http.post("/licences", json=body, headers=op)
        assert r.status_code == 400, r.text
    bad_jwks = {"keys": [{"kty": "EC", "kid": "\x00", "crv": "P-256", "x": "a", "y": "b"}]}
    r = await world.http.post(
        "/clients",
        headers=op,
        json={"kind": "operator-tool", "roles": ["operator"], "jwks": bad_jwks},
    )
    assert r.status_code == 400, r.text
    weird = [
        (b"content-type", b"application/x-www-form-urlencoded; charset=\xff"),
        (b"cookie", b"hl_signin_x=\xff\xfe"),
    ]
    r = await world.http.post("/token", content=b"grant_type=client_credentials", headers=weird)
    assert r.status_code in (400, 401) and "error" in r.json(), r.text
