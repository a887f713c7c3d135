"""``healthlink auth``: tokens as a developer or an operator's tool gets them, and keys.

``healthlink auth token`` signs a ``private_key_jwt`` assertion with a client's private
key and asks the auth service for a SMART Backend Services token (by default the
development operator that ``make up`` created, its key under the data dir);
``healthlink auth physician-token`` signs a physician in through the authorization
server's own pages (authorization code + PKCE, as an app does, with the licence, PIN and
hospital given) and prints the access token a SMART app would get;
``healthlink auth patient-token`` does the same for a patient through the wallet's
sign-in (development: the code from the file sender); ``healthlink auth keys`` makes a
private JWK set for ``HEALTHLINK_AUTH_SIGNING_KEYS``
(or for a hospital system or an operator's tool, which registers the public half).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import time
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import typer
from healthlink_adapter.smart import TokenRefused, client_assertion, token_form, token_of
from joserfc.jwk import ECKey

from services.auth.settings import AuthSettings

auth = typer.Typer(help="SMART tokens and signing keys.", no_args_is_help=True)


def backend_token(url: str, client_id: str, key: ECKey, scope: str) -> dict[str, Any]:
    token_url = f"{url.rstrip('/')}/token"
    try:
        return token_of(httpx.post(token_url, data=token_form(key, client_id, token_url, scope)))
    except TokenRefused as exc:
        raise typer.BadParameter(f"{exc.error}: {exc.description}") from None


@auth.command("token")
def token_command(
    client: str = typer.Option("dev-operator", help="the client id"),
    key: str = typer.Option(
        "", help="its private JWK file (default: <data dir>/auth/<client>.jwk)"
    ),
    scope: str = typer.Option("system/Practitioner.cruds", help="the scopes to ask for"),
    url: str = typer.Option("", help="the auth service (default: HEALTHLINK_AUTH_ISSUER)"),
    full: bool = typer.Option(False, "--json", help="the whole token response"),
) -> None:
    """A SMART Backend Services access token (client_credentials + private_key_jwt)."""
    settings = AuthSettings()
    private = ECKey.import_key(json.loads(key_path(settings, client, key).read_text()))
    body = backend_token(url or settings.auth_issuer, client, private, scope)
    typer.echo(json.dumps(body) if full else body["access_token"])


CLI_CLIENT = "healthlink-cli"
CLI_REDIRECT = "http://127.0.0.1/healthlink-cli/callback"  # never opened: the code is read
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def _form(page: str, **fields: str) -> dict[str, str]:
    found = {name: unescape(value) for name, value in reversed(_HIDDEN.findall(page))}
    return {**found, **fields}


def _refused(response: httpx.Response) -> typer.BadParameter:
    text = re.sub(r"<[^>]+>", " ", response.text)
    return typer.BadParameter(f"refused ({response.status_code}): {' '.join(text.split())[:300]}")


def _start(http: httpx.Client, operator: str, audience: str, scope: str) -> tuple[str, str]:
    """Register the CLI's public client (with the operator's backend token) and open the
    sign-in page with PKCE: the page and the code verifier."""
    client = {"kind": "smart-app", "client_id": CLI_CLIENT, "redirect_uris": [CLI_REDIRECT]}
    r = http.post("/clients", json=client, headers={"authorization": f"Bearer {operator}"})
    if r.status_code not in (201, 409):
        raise _refused(r)
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    query = {
        "response_type": "code",
        "client_id": CLI_CLIENT,
        "redirect_uri": CLI_REDIRECT,
        "scope": scope,
        "state": secrets.token_urlsafe(8),
        "aud": audience,
        "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    page = http.get("/authorize?" + urlencode(query))
    if page.status_code != 200:
        raise _refused(page)
    return page.text, verifier


def _exchange(http: httpx.Client, step: httpx.Response, verifier: str) -> dict[str, Any]:
    """The redirect back to the app: its code traded for the tokens."""
    if step.status_code != 303:
        raise _refused(step)
    back = parse_qs(urlsplit(step.headers["location"]).query)
    if "code" not in back:
        raise typer.BadParameter(f"refused: {back.get('error_description', back)}")
    form = {
        "grant_type": "authorization_code",
        "code": back["code"][0],
        "redirect_uri": CLI_REDIRECT,
        "client_id": CLI_CLIENT,
        "code_verifier": verifier,
    }
    r = http.post("/token", data=form)
    if r.status_code != 200:
        raise _refused(r)
    body: dict[str, Any] = r.json()
    return body


def physician_token(
    issuer: str, audience: str, operator: str, sign_in: dict[str, str], patient: str, scope: str
) -> dict[str, Any]:
    """The code flow walked over HTTP: register the CLI's public client (with the
    operator's backend token), authorize with PKCE, sign in, pick the patient, exchange."""
    with httpx.Client(base_url=issuer.rstrip("/"), timeout=30) as http:
        page, verifier = _start(http, operator, audience, scope)
        step = http.post("/authorize/physician", data=_form(page, **sign_in))
        if step.status_code == 200 and patient:
            step = http.post("/authorize/launch", data=_form(step.text, cid=patient))
        return _exchange(http, step, verifier)


def patient_token(
    issuer: str, audience: str, operator: str, cid: str, scan: str, codes: Path
) -> dict[str, Any]:
    """The wallet's sign-in walked over HTTP: the CID, the code the development sender
    wrote to ``codes/<cid>.txt`` (the patient's phone), the face scan (consent's
    verification), the exchange. The patient must be registered at consent (and auth
    must have heard of it: a 404 is retried for up to 30 s)."""
    scope = "openid fhirUser launch/patient patient/*.rs"
    with httpx.Client(base_url=issuer.rstrip("/"), timeout=30) as http:
        page, verifier = _start(http, operator, audience, scope)
        deadline = time.monotonic() + 30
        while True:
            step = http.post("/authorize/patient/code", data=_form(page, cid=cid))
            if step.status_code != 404 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        if step.status_code != 200:
            raise _refused(step)
        code = (codes / f"{cid}.txt").read_text().strip()
        step = http.post("/authorize/patient/session", data=_form(step.text, code=code))
        if step.status_code != 200:
            raise _refused(step)
        step = http.post("/authorize/patient/scan", data=_form(step.text, scan=scan))
        return _exchange(http, step, verifier)


@auth.command("physician-token")
def physician_token_command(
    licence: str = typer.Option(..., help="Medical Council licence"),
    pin: str = typer.Option(..., prompt=True, hide_input=True, help="the PIN (asked if left out)"),
    hospital: str = typer.Option(..., help="the hospital to act for"),
    patient: str = typer.Option("", help="launch with this patient (CID): patient/ scopes"),
    scope: str = typer.Option("", help="default: user/*.rs, or patient/*.rs with --patient"),
    audience: str = typer.Option("", help="the FHIR base (default: HEALTHLINK_AUTH_AUDIENCE)"),
    url: str = typer.Option("", help="the auth service (default: HEALTHLINK_AUTH_ISSUER)"),
    full: bool = typer.Option(False, "--json", help="the whole token response"),
) -> None:
    """A physician's SMART access token, through the sign-in page (code + PKCE)."""
    settings = AuthSettings()
    issuer = url or settings.auth_issuer
    private = ECKey.import_key(json.loads(key_path(settings, "dev-operator", "").read_text()))
    operator = backend_token(issuer, "dev-operator", private, "system/Practitioner.cruds")
    default = "launch/patient patient/*.rs" if patient else "user/*.rs"
    body = physician_token(
        issuer,
        audience or settings.auth_audience,
        str(operator["access_token"]),
        {"licence": licence, "pin": pin, "hospital": hospital},
        patient,
        f"openid fhirUser {scope or default}",
    )
    typer.echo(json.dumps(body) if full else body["access_token"])


@auth.command("patient-token")
def patient_token_command(
    cid: str = typer.Option(..., help="the patient's CID (registered at consent)"),
    scan: str = typer.Option("dev-face-scan-ok", help="the face scan (development: this)"),
    audience: str = typer.Option("", help="the FHIR base (default: HEALTHLINK_AUTH_AUDIENCE)"),
    url: str = typer.Option("", help="the auth service (default: HEALTHLINK_AUTH_ISSUER)"),
    fresh: bool = typer.Option(False, help="sign in again even if a kept token is valid"),
) -> None:
    """A patient's access token, through the wallet's sign-in (development only: the code
    is read where the file sender writes it, <data dir>/otp/<cid>.txt). The token is kept
    (mode 0600, <data dir>/auth/patient-<cid>.json) and reused while it has a minute
    left: each sign-in sends a code, and a CID gets 5 codes per 15 minutes."""
    settings = AuthSettings()
    kept = key_path(settings, f"patient-{cid}", "").with_suffix(".json")
    if not fresh and kept.exists():
        held = json.loads(kept.read_text())
        if held.get("expires_at", 0) > time.time() + 60:
            typer.echo(held["access_token"])
            return
    issuer = url or settings.auth_issuer
    private = ECKey.import_key(json.loads(key_path(settings, "dev-operator", "").read_text()))
    operator = backend_token(issuer, "dev-operator", private, "system/Practitioner.cruds")
    codes = data_dir(settings) / "otp"
    body = patient_token(
        issuer, audience or settings.auth_audience, str(operator["access_token"]), cid, scan, codes
    )
    expires_at = time.time() + int(body.get("expires_in", 0))
    kept.touch(mode=0o600)
    kept.write_text(json.dumps({"access_token": body["access_token"], "expires_at": expires_at}))
    typer.echo(body["access_token"])


@auth.command("assertion")
def assertion_command(
    client: str = typer.Option("dev-operator", help="the client id"),
    key: str = typer.Option(
        "", help="its private JWK file (default: <data dir>/auth/<client>.jwk)"
    ),
    url: str = typer.Option("", help="the auth service (default: HEALTHLINK_AUTH_ISSUER)"),
) -> None:
    """A private_key_jwt client assertion (for /token, /introspect, /revoke by hand)."""
    settings = AuthSettings()
    private = ECKey.import_key(json.loads(key_path(settings, client, key).read_text()))
    token_url = f"{(url or settings.auth_issuer).rstrip('/')}/token"
    typer.echo(client_assertion(private, client, token_url))


def data_dir(settings: AuthSettings) -> Path:
    return Path(os.environ.get("HEALTHLINK_DATA_DIR", settings.data_dir))


def key_path(settings: AuthSettings, client: str, key: str) -> Path:
    return Path(key) if key else data_dir(settings) / "auth" / f"{client}.jwk"


@auth.command("keys")
def keys_command(kid: str = typer.Option("", help="key id (default: its thumbprint)")) -> None:
    """A new P-256 private JWK set, and its public half to register or publish."""
    key = ECKey.generate_key("P-256", private=True)
    named = kid or key.thumbprint()
    private = {"keys": [key.as_dict(private=True) | {"kid": named, "use": "sig", "alg": "ES256"}]}
    public = {"keys": [key.as_dict(private=False) | {"kid": named, "use": "sig", "alg": "ES256"}]}
    typer.echo(json.dumps({"private": private, "public": public}, indent=2))
