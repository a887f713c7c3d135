"""OAuth clients: registration and key rotation (operators), and the development
operator that ``make up`` uses.

- a SMART app: public (PKCE only) or confidential with its JWK set; exact redirect URIs;
- a hospital system: SMART Backend Services with the hospital's JWK set, the
  ``hospital`` claim and ``system/`` scopes;
- an operator's tool: one client per named operator, roles ``operator``/``auditor``.

A key is rotated by registering the new JWK set with both keys, then the new one
alone; a client is revoked by deactivating it. Every change is an ``OperatorActed``
security event under the caller's identity.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from services.auth.domain import CLIENT_ID, ROLES, Client, ClientKind, is_hospital
from services.auth.errors import BadRequest, ClientExists, ClientNotFound
from services.auth.handlers import Deps
from services.auth.physicians import operator_acted
from shared.auth import parse_scope
from shared.keyfiles import write_new_key

DEFAULT_SCOPES = {
    ClientKind.APP: "launch/patient openid fhirUser offline_access user/*.rs patient/*.rs",
    ClientKind.HOSPITAL: "system/*.rs system/Bundle.c system/PractitionerRole.crds",
    ClientKind.OPERATOR: "system/Practitioner.cruds system/PractitionerRole.cruds "
    "system/Organization.cruds system/AuditEvent.rs",
}
ROLES_ADDED = ("introspect",)


def _plain(value: Any) -> bool:
    """Strings without control characters all the way down (storable, printable)."""
    if isinstance(value, str):
        return len(value) <= 4096 and not any(ord(ch) < 32 or ord(ch) == 127 for ch in value)
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return isinstance(value, int | float | bool) or value is None


def check_jwks(jwks: Any) -> dict[str, Any]:
    """A public JWK set (no private parts), usable by joserfc."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise BadRequest("jwks must be a JWK set: {'keys': [...]}")
    if len(jwks["keys"]) > 10 or not _plain(jwks):
        raise BadRequest("jwks: at most 10 keys, and no control characters")
    if any(not isinstance(k, dict) or "d" in k for k in jwks["keys"]):
        raise BadRequest("register public keys only (no 'd')")
    if any(k.get("kty") not in ("EC", "RSA") for k in jwks["keys"]):
        raise BadRequest("register public EC or RSA keys (private_key_jwt is asymmetric)")
    try:
        KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise BadRequest(f"jwks is not usable: {exc}") from exc
    return jwks


def check_redirect(uri: str) -> str:
    if len(uri) > 500 or not uri.isascii() or "#" in uri or ":" not in uri:
        raise BadRequest(f"not an absolute redirect URI without fragment: {uri[:80]}")
    return uri


def check_scope(scope: str, kind: ClientKind) -> str:
    for part in scope.split():
        found = parse_scope(part)
        if found is None and part not in DEFAULT_SCOPES[ClientKind.APP].split():
            raise BadRequest(f"unknown scope {part[:80]}")
        if found is not None and (found.context == "system") != (kind is not ClientKind.APP):
            raise BadRequest("system/ scopes are for hospital systems and operators' tools only")
    return scope


def new_client(body: dict[str, Any]) -> Client:
    """A client from an operator's registration (checked)."""
    try:
        kind = ClientKind(str(body.get("kind")))
    except ValueError as exc:
        raise BadRequest(f"kind: one of {[k.value for k in ClientKind]}") from exc
    client_id = body.get("client_id") or f"{kind.value.split('-')[0]}-{secrets.token_hex(6)}"
    if not CLIENT_ID.match(client_id):
        raise BadRequest("client_id: 3-64 of a-z 0-9 . _ -")
    jwks = check_jwks(body["jwks"]) if body.get("jwks") is not None else None
    roles = tuple(body.get("roles") or ())
    hospital = body.get("hospital")
    if kind is ClientKind.APP and not body.get("redirect_uris"):
        raise BadRequest("a SMART app needs its redirect URIs")
    if kind is not ClientKind.APP and jwks is None:
        raise BadRequest("a backend client needs its public JWK set (private_key_jwt)")
    if kind is ClientKind.HOSPITAL and not (isinstance(hospital, str) and is_hospital(hospital)):
        raise BadRequest("a hospital system needs its 5-digit hospital code")
    if kind is ClientKind.OPERATOR and (not roles or not set(roles) <= set(ROLES)):
        raise BadRequest(f"an operator's tool needs roles among {list(ROLES)}")
    if not set(roles) <= {*ROLES, *ROLES_ADDED}:
        raise BadRequest("unknown role")
    return Client(
        client_id=client_id,
        kind=kind,
        name=str(body.get("name") or client_id)[:200],
        scope=check_scope(str(body.get("scope") or DEFAULT_SCOPES[kind]), kind),
        redirect_uris=tuple(check_redirect(u) for u in body.get("redirect_uris") or ()),
        jwks=jwks,
        hospital=hospital if kind is ClientKind.HOSPITAL else None,
        roles=roles,
    )


async def register_client(deps: Deps, operator: str, body: dict[str, Any]) -> dict[str, Any]:
    client = new_client(body)
    if not await asyncio.to_thread(deps.store.put_client, client, new=True):
        raise ClientExists(f"client {client.client_id} exists")
    await operator_acted(
        deps, operator, "client.registered", client.client_id, {"kind": client.kind.value}
    )
    return client.describe()


async def read_client(deps: Deps, client_id: str) -> Client:
    client = await asyncio.to_thread(deps.store.client, client_id[:64])
    if client is None:
        raise ClientNotFound(f"no client {client_id[:64]}")
    return client


async def list_clients(deps: Deps) -> list[dict[str, Any]]:
    return [c.describe() for c in await asyncio.to_thread(deps.store.clients)]


async def update_client(
    deps: Deps, operator: str, client_id: str, jwks: Any | None, active: bool | None
) -> dict[str, Any]:
    """Replace the client's JWK set (key rotation) or (de)activate it."""
    client = await read_client(deps, client_id)
    changes: dict[str, Any] = {}
    if jwks is not None:
        changes["jwks"] = check_jwks(jwks)
    if active is not None:
        changes["active"] = active
    updated = replace(client, **changes)
    await asyncio.to_thread(deps.store.put_client, updated, new=False)
    detail = {k: "replaced" if k == "jwks" else str(v).lower() for k, v in changes.items()}
    await operator_acted(deps, operator, "client.updated", client_id, detail)
    return updated.describe()


def operator_key_path(data_dir: str, name: str) -> Path:
    return Path(data_dir) / "auth" / f"{name}.jwk"


async def bootstrap_operator(
    deps: Deps, name: str, data_dir: str, jwks: dict[str, Any] | None = None
) -> Path | None:
    """The first operator: an operator-tool client with the given public JWK set
    (production), or else a P-256 key made under ``data_dir`` (mode 0600, never
    committed; development) and the client with its public half."""
    public, path = await _public_keys(data_dir, name, jwks)
    client = Client(
        client_id=name,
        kind=ClientKind.OPERATOR,
        name=f"{name} (bootstrap)",
        scope=DEFAULT_SCOPES[ClientKind.OPERATOR],
        jwks=public,
        roles=("operator", "auditor"),
    )
    held = await asyncio.to_thread(deps.store.client, name)
    if held is None or held.jwks != public:
        await asyncio.to_thread(deps.store.put_client, client, new=False)
    return path


# the viewer (user/*.rs) and the patient portal (a patient's own record: patient/*.rs)
PORTAL_SCOPE = "launch/patient openid fhirUser online_access user/*.rs patient/*.rs"


async def bootstrap_portal(
    deps: Deps,
    client_id: str,
    redirect_uris: list[str],
    data_dir: str,
    jwks: dict[str, Any] | None = None,
) -> Path | None:
    """The physicians' viewer and the patient portal (the portal's backend-for-frontend)
    as a confidential SMART app: its exact redirect URIs, ``user/*.rs`` (physicians) and
    ``patient/*.rs`` (a patient, their own record) reads, ``private_key_jwt`` with the given
    public JWK set (production), or else a P-256 key made under ``data_dir`` (mode 0600;
    development: the portal reads it from the same data dir). Kept as configured at
    every start, as the bootstrap operator is."""
    public, path = await _public_keys(data_dir, client_id, jwks)
    client = Client(
        client_id=client_id,
        kind=ClientKind.APP,
        name="Health Link physician viewer",
        scope=PORTAL_SCOPE,
        redirect_uris=tuple(check_redirect(u) for u in redirect_uris),
        jwks=public,
    )
    held = await asyncio.to_thread(deps.store.client, client_id)
    if held is not None:
        client = replace(client, active=held.active)  # an operator's deactivation stays
    if held != client:
        await asyncio.to_thread(deps.store.put_client, client, new=False)
    return path


async def _public_keys(
    data_dir: str, client_id: str, jwks: dict[str, Any] | None
) -> tuple[dict[str, Any], Path | None]:
    """A bootstrapped client's public JWK set: the given one, checked (production; no
    path), or else the public half of a P-256 key made once under ``data_dir`` (mode
    0600, never committed; development) and that key's path."""
    if jwks is not None:
        return check_jwks(jwks), None
    path = operator_key_path(data_dir, client_id)
    key = await asyncio.to_thread(_load_or_make_key, path)
    return {"keys": [key.as_dict(private=False) | {"kid": key.kid, "use": "sig"}]}, path


def _load_or_make_key(path: Path) -> ECKey:
    if path.exists():
        return ECKey.import_key(json.loads(path.read_text()))
    return write_new_key(path)
