"""The auth HTTP API: discovery (SMART, OpenID, JWKS), the OAuth endpoints, and the
operators' and hospital staff's API (clients, licences, rosters).

OAuth endpoints answer OAuth errors (``error``, ``error_description``); the
operators' API answers OperationOutcomes through the shared error map. The sign-in
pages behind ``/authorize`` are in ``signin.py``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, status
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, Field

from services.auth import clients, physicians
from services.auth.handlers import Deps
from services.auth.web import oauth_call
from shared import smart
from shared.auth import Principal, TokenVerifier
from shared.errors import Forbidden


def _printable(text: str) -> str:
    """No control characters: the database (FerretDB on PostgreSQL) cannot store NUL."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("control characters are not allowed")
    return text


Text = Annotated[str, AfterValidator(_printable)]
LICENCE = r"^\d{3,8}$"
HOSPITAL = r"^\d{5}$"
Licence = Annotated[str, Path(pattern=LICENCE)]
HospitalCode = Annotated[str, Path(pattern=HOSPITAL)]
ClientId = Annotated[str, Path(max_length=64)]


class ClientCreate(BaseModel):
    kind: Literal["smart-app", "hospital-system", "operator-tool"]
    client_id: str | None = Field(default=None, max_length=64)
    name: Text | None = Field(default=None, max_length=200)
    scope: Text | None = Field(default=None, max_length=2000)
    redirect_uris: list[Annotated[Text, Field(max_length=500)]] = Field(default=[], max_length=20)
    jwks: dict[str, Any] | None = None
    hospital: str | None = Field(default=None, max_length=5)
    roles: list[Literal["operator", "auditor", "introspect"]] = Field(default=[], max_length=3)


class ClientUpdate(BaseModel):
    jwks: dict[str, Any] | None = Field(default=None, description="the new public JWK set")
    active: bool | None = None


class LicenceLoad(BaseModel):
    licence: str = Field(pattern=LICENCE, description="Medical Council licence number")
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    pin: Text | None = Field(
        default=None, min_length=4, max_length=200, description="PIN, or its argon2id hash"
    )
    active: bool | None = None


class LicenceUpdate(BaseModel):
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    pin: Text | None = Field(default=None, min_length=4, max_length=200)
    active: bool | None = None


class RosterEntry(BaseModel):
    licence: str = Field(pattern=LICENCE)


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


async def get_principal(request: Request) -> Principal:
    verifier: TokenVerifier = request.app.state.verifier
    return await verifier.verify_header(request.headers.get("authorization"))


def operator_of(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.has_role("operator"):
        raise Forbidden("an operator's token is required")
    return principal


def auditor_of(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.has_role("operator", "auditor"):
        raise Forbidden("an operator's or auditor's token is required")
    return principal


def roster_keeper(action: str) -> Any:
    """Operators, or the hospital's own system with ``system/PractitionerRole.<action>``."""

    def check(code: HospitalCode, principal: Annotated[Principal, Depends(get_principal)]) -> str:
        if principal.has_role("operator"):
            return principal.client_id
        if principal.hospital == code and principal.may("PractitionerRole", action, ("system",)):
            return principal.client_id
        raise Forbidden("this hospital's system or an operator is required")

    return Depends(check)


DepsDep = Annotated[Deps, Depends(get_deps)]
OperatorDep = Annotated[Principal, Depends(operator_of)]
AuditorDep = Annotated[Principal, Depends(auditor_of)]

discovery = APIRouter(prefix="/.well-known", tags=["discovery"])
oauth = APIRouter(tags=["oauth"])
operators = APIRouter(tags=["operators"])
rosters = APIRouter(prefix="/hospitals/{code}/physicians", tags=["rosters"])


@discovery.get("/smart-configuration")
async def read_smart_configuration(deps: DepsDep) -> dict[str, Any]:
    """SMART App Launch 2 discovery: endpoints, grant types, scopes, capabilities."""
    return smart.smart_configuration(deps.settings.auth_issuer)


@discovery.get("/openid-configuration")
async def read_openid_configuration(deps: DepsDep) -> dict[str, Any]:
    """OpenID Connect discovery (``openid fhirUser``)."""
    return {
        **smart.endpoints(deps.settings.auth_issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": smart.SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "fhirUser", "name"],
        "grant_types_supported": smart.GRANT_TYPES,
        "code_challenge_methods_supported": ["S256"],
    }


@discovery.get("/jwks.json")
async def read_jwks(request: Request) -> dict[str, Any]:
    """The public keys access tokens and id_tokens are signed with (first signs)."""
    jwks: dict[str, Any] = request.app.state.keys.public_jwks()
    return jwks


@oauth.post("/token")
async def create_token(request: Request, deps: DepsDep) -> Response:
    """The token endpoint: authorization_code (+PKCE), refresh_token, client_credentials."""
    return await oauth_call(request, deps, "/token", deps.server.token)


@oauth.post("/revoke")
async def create_revocation(request: Request, deps: DepsDep) -> Response:
    """RFC 7009: revoke a refresh token (its whole family) or an access token."""
    return await oauth_call(request, deps, "/revoke", deps.server.revoke)


@oauth.post("/introspect")
async def create_introspection(request: Request, deps: DepsDep) -> Response:
    """RFC 7662: is this token active, and what does it carry (caller authenticated)."""
    return await oauth_call(request, deps, "/introspect", deps.server.introspect)


@operators.post("/clients", status_code=status.HTTP_201_CREATED)
async def create_client(body: ClientCreate, deps: DepsDep, me: OperatorDep) -> dict[str, Any]:
    """Register a SMART app, a hospital's system or an operator's tool (operators)."""
    return await clients.register_client(deps, me.client_id, body.model_dump())


@operators.get("/clients")
async def read_clients(deps: DepsDep, me: AuditorDep) -> dict[str, Any]:
    """Every registered client (operators, auditors)."""
    return {"clients": await clients.list_clients(deps)}


@operators.get("/clients/{client_id}")
async def read_client(client_id: ClientId, deps: DepsDep, me: AuditorDep) -> dict[str, Any]:
    """One client (operators, auditors)."""
    return (await clients.read_client(deps, client_id)).describe()


@operators.patch("/clients/{client_id}")
async def update_client(
    client_id: ClientId, body: ClientUpdate, deps: DepsDep, me: OperatorDep
) -> dict[str, Any]:
    """Replace a client's JWK set (key rotation) or deactivate it (operators)."""
    return await clients.update_client(deps, me.client_id, client_id, body.jwks, body.active)


@operators.post("/licences", status_code=status.HTTP_201_CREATED)
async def create_licence(body: LicenceLoad, deps: DepsDep, me: OperatorDep) -> dict[str, Any]:
    """Load a licence into the Medical Council mirror, or change it (operators)."""
    return await physicians.load_licence(
        deps, me.client_id, body.licence, body.name, body.pin, body.active
    )


@operators.get("/licences/{licence}")
async def read_licence(licence: Licence, deps: DepsDep, me: AuditorDep) -> dict[str, Any]:
    """A licence as the mirror holds it (no PIN)."""
    return await physicians.read_licence(deps, licence)


@operators.patch("/licences/{licence}")
async def update_licence(
    licence: Licence, body: LicenceUpdate, deps: DepsDep, me: OperatorDep
) -> dict[str, Any]:
    """Rename, reset the PIN, activate or deactivate a licence (operators)."""
    await physicians.read_licence(deps, licence)
    return await physicians.load_licence(
        deps, me.client_id, licence, body.name, body.pin, body.active
    )


@rosters.get("")
async def read_roster(
    code: HospitalCode, deps: DepsDep, who: Annotated[str, roster_keeper("r")]
) -> dict[str, Any]:
    """The hospital's roster (its system, operators)."""
    return await physicians.read_roster(deps, code)


@rosters.post("", status_code=status.HTTP_201_CREATED)
async def create_roster_entry(
    code: HospitalCode,
    body: RosterEntry,
    deps: DepsDep,
    who: Annotated[str, roster_keeper("c")],
) -> dict[str, Any]:
    """Let a registered physician act for the hospital (its system, operators)."""
    return await physicians.add_to_roster(deps, who, code, body.licence)


@rosters.delete("/{licence}")
async def delete_roster_entry(
    code: HospitalCode,
    licence: Licence,
    deps: DepsDep,
    who: Annotated[str, roster_keeper("d")],
) -> dict[str, Any]:
    """Take a physician off the roster: their next request is refused (its system, operators)."""
    return await physicians.remove_from_roster(deps, who, code, licence)
