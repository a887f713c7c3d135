"""``healthlink operators``: named operator and auditor accounts, and their tokens.

An operator or auditor is an ``operator-tool`` client of the auth service with a role
and a public key; the private key stays on the person's machine
(``<data dir>/operators/<name>.jwk``, mode 0600). Tokens are SMART Backend Services
tokens (``client_credentials`` + ``private_key_jwt``, ES256, 5 minutes) carrying the
``roles`` claim that every service checks (``shared/operators.py``).

    healthlink operators add somchai --role operator     # registers, writes the key
    export HEALTHLINK_OPERATOR_NAME=somchai              # every operator command acts as him
    healthlink operators token somchai                   # an access token, for curl

Registering needs an operator's token at the auth service: the named operator in
``HEALTHLINK_OPERATOR_NAME``, or else the auth service's bootstrap operator
(``HEALTHLINK_AUTH_BOOTSTRAP_OPERATOR``, development: ``dev-operator`` with its key under
``<data dir>/auth/``).

Commands that act on Kafka directly rather than through a service's API (``healthlink
replay``) check the operator the same way first (``acting_operator``: the token verified
as the services verify it) and record the action themselves (``record_action``), as the
service whose state they rebuild (its Kafka principal writes the security topic).
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from healthlink_adapter.smart import TokenRefused, token_form, token_of
from joserfc.jwk import ECKey

from healthlink.operator import OperatorLogin
from shared.broker import Publisher, make_broker
from shared.errors import Forbidden, Transient
from shared.events import OperatorActed, topic_of
from shared.keyfiles import public_set, write_new_key
from shared.operators import Operator, identify, verifier_for
from shared.settings import Settings

app = typer.Typer(help="Named operators and auditors (their accounts and tokens).")
ROLE_SCOPES = {
    "operator": "system/Practitioner.cruds system/PractitionerRole.cruds "
    "system/Organization.cruds system/AuditEvent.rs",
    "auditor": "system/AuditEvent.rs",
}
TOKEN_SCOPE = "system/AuditEvent.rs"  # both roles have it; the roles claim decides
BOOTSTRAP_CLIENT = "dev-operator"


def data_dir() -> Path:
    return Path(os.environ.get("HEALTHLINK_DATA_DIR", ".data"))


def key_file(name: str, given: str = "") -> Path:
    """The operator's private key: ``given``, or ``<data dir>/operators/<name>.jwk``."""
    return Path(given) if given else data_dir() / "operators" / f"{name}.jwk"


def fetch_token(settings: Settings, name: str, key: str = "", *, path: Path | None = None) -> str:
    """An access token for operator ``name`` from the auth service; ``ValueError`` with the
    service's reason when refused."""
    private = ECKey.import_key(json.loads((path or key_file(name, key)).read_text()))
    token_url = f"{settings.issuer}/token"
    form = token_form(private, name, token_url, TOKEN_SCOPE)
    try:
        body = token_of(httpx.post(token_url, data=form, timeout=10))
    except TokenRefused as exc:
        raise ValueError(f"the auth service refused: {exc.description or exc.error}") from None
    return str(body["access_token"])


def registrar_token(settings: Settings) -> str:
    """The token that registers a new operator: the named operator acting, or the auth
    service's bootstrap operator (its key under ``<data dir>/auth/``)."""
    login = OperatorLogin()
    if login.name:
        return fetch_token(settings, login.name, login.key)
    path = data_dir() / "auth" / f"{BOOTSTRAP_CLIENT}.jwk"
    return fetch_token(settings, BOOTSTRAP_CLIENT, path=path)


def register(settings: Settings, name: str, role: str, key: str = "") -> dict[str, Any]:
    """Register operator ``name`` with ``role`` at the auth service; its new private key
    is written first (``key_file``), so a refused registration leaves only a key."""
    path = key_file(name, key)
    if path.exists():
        raise ValueError(f"{path} exists: choose another name, or remove the old key first")
    token = registrar_token(settings)
    client = {
        "kind": "operator-tool",
        "client_id": name,
        "name": name,
        "roles": [role],
        "scope": ROLE_SCOPES[role],
        "jwks": public_set(write_new_key(path)),
    }
    response = httpx.post(
        f"{settings.issuer}/clients",
        json=client,
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    if response.status_code != 201:
        path.unlink(missing_ok=True)
        raise ValueError(f"refused ({response.status_code}): {response.text[:300]}")
    found: dict[str, Any] = response.json()
    return {**found, "key": str(path)}


def acting_operator(settings: Settings) -> Operator:
    """Who the command line acts as: the named operator (``HEALTHLINK_OPERATOR_NAME``),
    its token fetched and verified as every service verifies it; without one, the
    bootstrap identity where it is allowed (development and tests, never production by
    default). ``Unauthorized``/``Forbidden`` otherwise; an auditor may not change."""
    login = OperatorLogin()
    token = fetch_token(settings, login.name, login.key) if login.name else settings.admin_token
    who = asyncio.run(identify(settings, verifier_for(settings), token))
    if not who.may_change():
        raise Forbidden(f"{who.name} is an auditor: reading only, no changes")
    return who


async def _publish(settings: Settings, service: str, payload: OperatorActed) -> None:
    broker = make_broker(settings, service)
    await broker.start()
    try:
        envelope = payload.envelope(source=f"healthlink/{service}", subject=payload.operator)
        await Publisher(broker, settings).publish(topic_of(envelope), envelope)
    finally:
        await broker.stop()


def record_action(
    settings: Settings, service: str, who: Operator, action: str, target: str,
    detail: dict[str, str],
) -> None:  # fmt: skip
    """An ``operator.acted`` security event for an action the command line took itself,
    published as ``service`` (its Kafka principal writes the security topic)."""
    payload = OperatorActed(
        operator=who.name,
        action=action,
        target=target[:200],
        time=datetime.now(UTC),
        detail={"service": service, "roles": " ".join(who.roles), "via": "cli", **detail},
    )
    try:
        asyncio.run(_publish(settings, service, payload))
    except Exception as exc:  # the broker refused or is gone: do not act unrecorded
        raise Transient(f"the security log is unavailable ({type(exc).__name__})") from exc


@app.command("add")
def add_command(
    name: str = typer.Argument(..., help="the person's account name (3-64 of a-z 0-9 . _ -)"),
    role: str = typer.Option("operator", help="operator (changes and reads) or auditor (reads)"),
    key: str = typer.Option("", help="where to write the private key (default: data dir)"),
) -> None:
    """Register a named operator or auditor and write its private key."""
    if role not in ROLE_SCOPES:
        raise typer.BadParameter("role: operator or auditor")
    try:
        found = register(Settings(), name, role, key)
    except (OSError, ValueError, httpx.HTTPError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"{name} ({role}) registered; private key: {found['key']}")
    typer.echo(f"act as {name}: export HEALTHLINK_OPERATOR_NAME={name}")


@app.command("token")
def token_command(
    name: str = typer.Argument("", help="default: HEALTHLINK_OPERATOR_NAME"),
    key: str = typer.Option("", help="the private key (default: data dir)"),
) -> None:
    """A short-lived access token of a named operator or auditor (for curl)."""
    login = OperatorLogin()
    who = name or login.name
    if not who:
        raise typer.BadParameter("name an operator, or set HEALTHLINK_OPERATOR_NAME")
    try:
        typer.echo(fetch_token(Settings(), who, key or login.key))
    except (OSError, ValueError, httpx.HTTPError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
