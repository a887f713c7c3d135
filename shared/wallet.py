"""The auth service's wallet: the only caller of consent's identity verification.

A patient's face scan is checked by consent's ``POST /patients/{cid}/verify``, which
counts the FAQ's 5 attempts per CID and Bangkok day. Only the auth service's wallet
flow may make an attempt — after the one-time code sent to the patient's phone has
opened a device session — so a stranger who knows a CID cannot use up the patient's
attempts (issue 12). The auth service proves it is the caller with a short-lived
access token it signs for itself with its own signing key (``wallet_claims``):

- ``iss`` the auth issuer, ``aud`` the FHIR base URL (what every service's
  ``app.state.token_verifier`` checks), ``typ: at+jwt``, a fresh ``jti``, 60 s;
- ``sub`` = ``client_id`` = ``WALLET_CLIENT``, ``roles`` = ``["wallet"]``,
  ``scope`` = ``WALLET_SCOPE``.

No client registered at the auth service can get the ``wallet`` role (registration
allows only ``operator``, ``auditor`` and ``introspect``), so only the auth service
holds it. The request also names the device session (``hl-wallet-session``).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Annotated, Any

from fastapi import Depends, Request

from shared.auth import bearer_token
from shared.errors import Forbidden, InvalidInput, Unauthorized
from shared.operators import token_verifier

WALLET_CLIENT = "healthlink-auth-wallet"
WALLET_ROLE = "wallet"
WALLET_SCOPE = "system/Patient.verify"
SESSION_HEADER = "hl-wallet-session"
TTL_S = 60
SESSION = re.compile(r"[0-9a-f]{32}")


def wallet_claims(issuer: str, audience: str, now: int | None = None) -> dict[str, Any]:
    """The claims of the wallet's access token (the auth service signs them)."""
    issued = int(time.time()) if now is None else now
    return {
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + TTL_S,
        "jti": uuid.uuid4().hex,
        "sub": WALLET_CLIENT,
        "client_id": WALLET_CLIENT,
        "roles": [WALLET_ROLE],
        "scope": WALLET_SCOPE,
    }


async def wallet_session_of(request: Request) -> str:
    """The wallet's device session of a request from the auth service's wallet:
    ``Unauthorized`` (401) without a valid access token of the auth service,
    ``Forbidden`` (403) for one that is not the wallet's, ``InvalidInput`` (400) without
    the session header."""
    try:
        token = bearer_token(request.headers.get("authorization"))
        principal = await token_verifier(request).verify(token)
    except Unauthorized as exc:
        raise Unauthorized(f"the auth service's wallet token is required: {exc.detail}") from exc
    if principal.client_id != WALLET_CLIENT or not principal.has_role(WALLET_ROLE):
        raise Forbidden("only the auth service's wallet may verify a patient's identity")
    session = request.headers.get(SESSION_HEADER, "")
    if not SESSION.fullmatch(session):
        raise InvalidInput(f"the wallet's device session ({SESSION_HEADER}) is required")
    return session


WalletDep = Annotated[str, Depends(wallet_session_of)]
