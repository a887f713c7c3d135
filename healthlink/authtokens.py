"""``healthlink auth``: tokens as a developer or an operator's tool gets them, and keys.

``healthlink auth token`` signs a ``private_key_jwt`` assertion with a client's private
key and asks the auth service for a SMART Backend Services token (by default the
development operator that ``make up`` created, its key under the data dir);
``healthlink auth keys`` makes a private JWK set for ``HEALTHLINK_AUTH_SIGNING_KEYS``
(or for a hospital system or an operator's tool, which registers the public half).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import typer
from joserfc import jwt
from joserfc.jwk import ECKey

from services.auth.settings import AuthSettings

auth = typer.Typer(help="SMART tokens and signing keys.", no_args_is_help=True)
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def client_assertion(key: ECKey, client_id: str, token_url: str) -> str:
    """A private_key_jwt assertion for ``token_url``, valid 4 minutes, used once."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": now,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": "ES256", "kid": str(key.kid), "typ": "JWT"}, claims, key)


def backend_token(url: str, client_id: str, key: ECKey, scope: str) -> dict[str, Any]:
    token_url = f"{url.rstrip('/')}/token"
    form = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION,
        "client_assertion": client_assertion(key, client_id, token_url),
    }
    response = httpx.post(token_url, data=form, timeout=10)
    body: dict[str, Any] = response.json()
    if response.status_code != 200:
        raise typer.BadParameter(f"{body.get('error')}: {body.get('error_description')}")
    return body


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
