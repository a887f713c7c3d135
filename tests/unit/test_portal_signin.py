"""The viewer's SMART sign-in through the portal's composition root, on a fake auth
service (``FakeSmartApp``) and query service: the way to ``/authorize`` and back through
``/callback``, each failure told by a code the page translates (docs/portal.md)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from services.portal import smart as portal_smart
from services.portal.app import create_app
from services.portal.handlers import Deps
from services.portal.repository import MemorySessions
from services.portal.settings import PortalSettings
from tests.support.portal_fakes import CONSENTED, HOSPITAL, LICENCE, FakeQuery, FakeSmartApp

pytestmark = pytest.mark.unit
WEB = Path(__file__).resolve().parents[2] / "services" / "portal" / "web"
CODES = ("signin-expired", "signin-state", "signin-denied", "signin-failed")


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def smart() -> FakeSmartApp:
    return FakeSmartApp(FakeQuery())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(smart: FakeSmartApp, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    deps = Deps(
        sessions=MemorySessions(clock),
        pending=MemorySessions(clock),
        query=smart.query,
        smart=smart,
        clock=clock,
    )
    app = create_app(PortalSettings(environment="test"), deps=deps)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as c:
        yield c


async def start(client: httpx.AsyncClient, smart: FakeSmartApp) -> str:
    r = await client.get("/signin", headers={"accept-language": "en"})
    assert r.status_code == 303 and r.headers["location"].startswith("http://auth.test/")
    return smart.requests[-1]["state"]


def error_of(r: httpx.Response) -> str:
    assert r.status_code == 303, r.text
    found = parse_qs(urlsplit(r.headers["location"]).query)["signin-error"]
    return found[0]


async def test_sign_in_goes_to_the_auth_service_and_the_token_stays_here(
    client: httpx.AsyncClient, smart: FakeSmartApp
) -> None:
    r = await client.get("/signin", headers={"accept-language": "en"})
    assert r.status_code == 303
    sent = parse_qs(urlsplit(r.headers["location"]).query)
    assert sent["ui_locales"] == ["en"] and len(sent["state"][0]) >= 40
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith("hl_signin=") and "httponly" in cookie
    assert "samesite=lax" in cookie and "path=/callback" in cookie
    assert smart.requests[-1]["code_challenge"] not in r.headers.get("set-cookie", "")
    r = await client.get("/callback", params={"state": sent["state"][0], "code": smart.approve()})
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("hl_session=")).lower()
    assert "httponly" in session and "samesite=strict" in session
    assert any(c.startswith('hl_signin=""') for c in cookies), "the pending sign-in is gone"
    r = await client.get("/api/session")
    body = r.json()
    assert body["signed_in"] and (body["licence"], body["hospital"]) == (LICENCE, HOSPITAL)
    assert "smart-token" not in r.text
    r = await client.get(f"/api/patients/{CONSENTED}/record")
    assert r.status_code == 200 and smart.query.reads == [("smart-token-0", CONSENTED)]


async def test_a_state_that_is_not_the_one_sent_is_refused(
    client: httpx.AsyncClient, smart: FakeSmartApp
) -> None:
    await start(client, smart)
    r = await client.get("/callback", params={"state": "forged", "code": smart.approve()})
    assert error_of(r) == "signin-state"
    assert not (await client.get("/api/session")).json()["signed_in"]


async def test_a_callback_without_a_pending_sign_in_has_expired(
    client: httpx.AsyncClient, smart: FakeSmartApp, clock: Clock
) -> None:
    r = await client.get("/callback", params={"state": "x", "code": "y"})
    assert error_of(r) == "signin-expired"
    state = await start(client, smart)
    clock.now += 601  # longer than the auth service keeps a pending sign-in
    r = await client.get("/callback", params={"state": state, "code": smart.approve()})
    assert error_of(r) == "signin-expired"


async def test_a_used_sign_in_cannot_be_used_again(
    client: httpx.AsyncClient, smart: FakeSmartApp
) -> None:
    state = await start(client, smart)
    code = smart.approve()
    pending = client.cookies.get("hl_signin", path="/callback")
    await client.get("/callback", params={"state": state, "code": code})
    client.cookies.set("hl_signin", pending or "", path="/callback")
    r = await client.get("/callback", params={"state": state, "code": code})
    assert error_of(r) == "signin-expired"


@pytest.mark.parametrize(
    ("error", "code"),
    [("access_denied", "signin-denied"), ("invalid_scope", "signin-failed"), ("", "signin-failed")],
)
async def test_the_auth_service_s_error_answers_are_told(
    client: httpx.AsyncClient, smart: FakeSmartApp, error: str, code: str
) -> None:
    state = await start(client, smart)
    r = await client.get("/callback", params={"state": state, "error": error})
    assert error_of(r) == code
    assert not (await client.get("/api/session")).json()["signed_in"]


async def test_a_code_the_token_endpoint_refuses_is_told(
    client: httpx.AsyncClient, smart: FakeSmartApp
) -> None:
    state = await start(client, smart)
    smart.refuse_codes = True
    r = await client.get("/callback", params={"state": state, "code": smart.approve()})
    assert error_of(r) == "signin-failed"
    assert not (await client.get("/api/session")).json()["signed_in"]


async def test_the_auth_service_down_at_sign_in_is_told_on_the_page(
    client: httpx.AsyncClient, smart: FakeSmartApp
) -> None:
    """Not a JSON 502 in the browser: back to the viewer, which says it in words."""
    smart.down = True
    r = await client.get("/signin", headers={"accept-language": "en"})
    assert error_of(r) == "signin-failed" and "hl_signin" not in r.headers.get("set-cookie", "")


async def test_oversized_callback_parameters_are_a_400(client: httpx.AsyncClient) -> None:
    r = await client.get("/callback", params={"state": "s" * 201})
    assert r.status_code == 400


def test_every_sign_in_error_is_said_in_both_languages() -> None:
    for lang in ("th", "en"):
        catalogue = json.loads((WEB / "i18n" / f"{lang}.json").read_text())
        assert all(catalogue.get(f"error.{code}") for code in CODES), lang


def test_a_stack_s_auth_and_portal_agree_on_the_viewer_s_client_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``make up``: no setting, yet the redirect URI auth registers is the one the portal
    sends, and the key file auth makes is the one the portal reads (a moved stack too)."""
    from services.auth.clients import operator_key_path
    from services.auth.settings import AuthSettings

    monkeypatch.setenv("HEALTHLINK_SERVICE_PORT_BASE", "8301")
    auth, portal = AuthSettings(), PortalSettings()
    assert auth.auth_portal_redirect_uris == [portal.redirect_uri(), portal.patient_redirect_uri()]
    assert portal.redirect_uri() == "http://127.0.0.1:8307/callback"
    assert portal.patient_redirect_uri() == "http://127.0.0.1:8307/patient/callback"
    assert auth.auth_portal_client == portal.portal_client
    key = operator_key_path(auth.data_dir, portal.portal_client)
    assert key == Path(portal.data_dir) / "auth" / f"{portal.portal_client}.jwk"
    assert portal.token_audience == auth.auth_audience and portal.issuer == auth.auth_issuer


async def test_the_access_token_is_renewed_with_the_refresh_token_before_a_read(
    client: httpx.AsyncClient, smart: FakeSmartApp, clock: Clock
) -> None:
    state = await start(client, smart)
    await client.get("/callback", params={"state": state, "code": smart.approve()})
    clock.now += 290  # the 5-minute access token ends within 30 s: renewed, rotated
    r = await client.get(f"/api/patients/{CONSENTED}/record")
    assert r.status_code == 200
    assert [token for token, _ in smart.query.reads] == ["smart-token-1"]
    assert list(smart.refreshes) == ["refresh-2"], "the used refresh token is gone"
    clock.now += 100  # the renewed one is good: no renewal
    assert (await client.get(f"/api/patients/{CONSENTED}/record")).status_code == 200
    assert smart.query.reads[-1][0] == "smart-token-1"
    smart.refreshes.clear()  # the family revoked at the auth service
    clock.now += 300
    r = await client.get(f"/api/patients/{CONSENTED}/record")
    assert r.status_code == 401 and r.json()["error"] == "signed-out"
    assert not (await client.get("/api/session")).json()["signed_in"]


async def signed_in_csrf(client: httpx.AsyncClient, smart: FakeSmartApp) -> str:
    state = await start(client, smart)
    await client.get("/callback", params={"state": state, "code": smart.approve()})
    body = (await client.get("/api/session")).json()
    assert body["signed_in"], body
    return str(body["csrf"])


async def test_sign_out_revokes_the_refresh_token_at_the_auth_service(
    client: httpx.AsyncClient, smart: FakeSmartApp
) -> None:
    csrf = await signed_in_csrf(client, smart)
    [held] = list(smart.refreshes)
    r = await client.post("/api/session/end", headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and not r.json()["signed_in"]
    assert smart.revoked == [held] and not smart.refreshes


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, object]]] = []

    def warning(self, event: str, **fields: object) -> None:
        self.lines.append((event, fields))


async def test_sign_out_goes_ahead_when_the_auth_service_is_down(
    client: httpx.AsyncClient, smart: FakeSmartApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    csrf = await signed_in_csrf(client, smart)
    [held] = list(smart.refreshes)
    smart.down = True
    log = RecordingLog()
    monkeypatch.setattr(portal_smart, "log", log)
    r = await client.post("/api/session/end", headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and not r.json()["signed_in"]
    assert not (await client.get("/api/session")).json()["signed_in"]
    assert smart.revoked == []
    [(event, fields)] = log.lines
    assert event == "refresh token not revoked at sign-out"
    assert fields["reason"] == "signin-failed" and len(str(fields["session"])) == 12
    logged = repr(log.lines)
    assert held not in logged and "smart-token" not in logged and csrf not in logged
