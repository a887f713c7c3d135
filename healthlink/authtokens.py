"""``healthlink auth``: tokens as a developer or an operator's tool gets them, and keys.

``healthlink auth token`` signs a ``private_key_jwt`` assertion with a client's private
key and asks the auth service for a SMART Backend Services token (by default the
development operator that ``make up`` created, its key under the data dir);
``healthlink auth physician-token`` signs a physician in through the authorization
server's own pages (authorization code + PKCE, as an app does, with the licence, PIN and
hospital given) and prints the access token a SMART app would get;
``healthlink auth keys`` makes a private JWK set for ``HEALTHLINK_AUTH_SIGNING_KEYS``
(or for a hospital system or an operator's tool, which registers the public half).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
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


def physician_token(
    issuer: str, audience: str, operator: str, sign_in: dict[str, str], patient: str, scope: str
) -> dict[str, Any]:
    """The code flow walked over HTTP: register the CLI's public client (with the
    operator's backend token), authorize with PKCE, sign in, pick the patient, exchange."""
    base = issuer.rstrip("/")
    with httpx.Client(base_url=base, timeout=30) as http:
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
        step = http.post("/authorize/physician", data=_form(page.text, **sign_in))
        if step.status_code == 200 and patient:
            step = http.post("/authorize/launch", data=_form(step.text, cid=patient))
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


def key_path(settings: AuthSettings, client: str, key: str) -> Path:
    data_dir = Path(os.environ.get("HEALTHLINK_DATA_DIR", settings.data_dir))
    return Path(key) if key else data_dir / "auth" / f"{client}.jwk"


@auth.command("keys")
def keys_command(kid: str = typer.Option("", help="key id (default: its thumbprint)")) -> None:
    """A new P-256 private JWK set, and its public half to register or publish."""
    key = ECKey.generate_key("P-256", private=True)
    named = kid or key.thumbprint()
    private = {"keys": [key.as_dict(private=True) | {"kid": named, "use": "sig", "alg": "ES256"}]}
    public = {"keys": [key.as_dict(private=False) | {"kid": named, "use": "sig", "alg": "ES256"}]}
    typer.echo(json.dumps({"private": private, "public": public}, indent=2))
