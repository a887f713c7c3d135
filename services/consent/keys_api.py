"""A hospital's credentials over HTTP: rotate its admin key, add and remove the public keys
it signs uploads with (``hospital_keys.py``).

    POST   /hospitals/{code}/admin-key             a new admin key, shown this once
    POST   /hospitals/{code}/signing-keys          add a public JWK (EC P-256, with a kid)
    DELETE /hospitals/{code}/signing-keys/{kid}    remove one

An operator may do each (``ChangerDep``'s token), and so may the hospital itself with its
current admin key. Each is an ``operator.acted`` security event under the caller's name
(an operator's, or ``hospital:<code>``), recorded before the answer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field

from services.consent import hospital_keys
from services.consent.handlers import Deps
from shared.auth import bearer_token
from shared.errors import Unauthorized
from shared.hospital_auth import is_admin_key
from shared.operators import Operator, changer_of, recorder

Code = Annotated[str, Path(pattern=r"^\d{5}$", description="5-digit MOPH hospital code")]
Kid = Annotated[str, Path(min_length=1, max_length=64, description="the key's kid")]
HOSPITAL_ROLE = "hospital"

router = APIRouter(prefix="/hospitals/{code}", tags=["hospitals"])


class PublicJwk(BaseModel):
    """A public key the hospital signs uploads with: an EC P-256 JWK (ES256) with a kid."""

    model_config = ConfigDict(extra="allow")

    kty: str = Field(max_length=8, examples=["EC"])
    crv: str = Field(max_length=16, examples=["P-256"])
    x: str = Field(max_length=128)
    y: str = Field(max_length=128)
    kid: str = Field(min_length=1, max_length=64)
    alg: str | None = Field(default=None, max_length=16, examples=["ES256"])
    use: str | None = Field(default=None, max_length=8, examples=["sig"])


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


DepsDep = Annotated[Deps, Depends(get_deps)]


async def keyholder(code: Code, request: Request) -> Operator:
    """The hospital itself (its current admin key as the bearer token), else an
    operator who may change things."""
    token = bearer_token(request.headers.get("authorization"))
    if await is_admin_key(request, code, token):
        return Operator(f"{HOSPITAL_ROLE}:{code}", (HOSPITAL_ROLE,))
    try:
        return await changer_of(request)
    except Unauthorized:
        raise Unauthorized("this hospital's admin key or an operator's token is required") from None


KeyholderDep = Annotated[Operator, Depends(keyholder)]


@router.post("/admin-key", status_code=status.HTTP_201_CREATED)
async def create_admin_key(
    request: Request, code: Code, deps: DepsDep, me: KeyholderDep
) -> dict[str, Any]:
    """Rotate the hospital's admin key: the new key is in this answer only (keep it); the
    old one is refused from the next request on (operators, or the hospital with its
    current admin key)."""
    record = recorder(request, me, "hospital.admin_key_rotated", code, {})
    return await hospital_keys.rotate_admin_key(deps, code, record=record)


@router.post("/signing-keys", status_code=status.HTTP_201_CREATED)
async def create_signing_key(
    request: Request, code: Code, body: PublicJwk, deps: DepsDep, me: KeyholderDep
) -> dict[str, Any]:
    """Add a public key the hospital signs uploads with (a private key is refused); the
    hospital's state with every key. Rotation: add the new key, sign with it, remove the
    old one."""
    jwk = body.model_dump(exclude_none=True)
    record = recorder(request, me, "hospital.signing_key_added", code, {"kid": body.kid})
    return await hospital_keys.add_signing_key(deps, code, jwk, record=record)


@router.delete("/signing-keys/{kid}")
async def delete_signing_key(
    request: Request, code: Code, kid: Kid, deps: DepsDep, me: KeyholderDep
) -> dict[str, Any]:
    """Remove a signing key: uploads signed with it are set aside from the next one on."""
    record = recorder(request, me, "hospital.signing_key_removed", code, {"kid": kid})
    return await hospital_keys.remove_signing_key(deps, code, kid, record=record)
