"""Revocation (RFC 7009) and introspection (RFC 7662) on authlib's core.

Both find the token the same way: a refresh token by its hash, an access token by its
signature (this server's keys) and issuer. Revoking a refresh token revokes its family;
revoking an access token, its ``jti``. A token the server does not know, or one issued to
another client, is answered 200 and left alone: the caller learns nothing about it.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from services.auth.domain import Client, ClientKind, digest
from services.auth.grants import Ctx, StoredRefresh
from services.auth.keys import ALG
from shared.events import TokenRevoked


class Held:
    """A token the server issued, found by revocation or introspection."""

    def __init__(self, kind: str, claims: dict[str, Any], ctx: Ctx) -> None:
        self.kind = kind  # "access_token" or "refresh_token"
        self.claims = claims
        self.ctx = ctx

    def check_client(self, client: Client) -> bool:
        return bool(self.claims.get("client_id") == client.client_id)

    def is_expired(self) -> bool:
        return int(self.claims.get("exp", 0)) <= time.time()

    def is_revoked(self) -> bool:
        return self.ctx.store.revoked(self.revocation_key)

    @property
    def revocation_key(self) -> str:
        if self.kind == "refresh_token":
            return f"family:{self.claims['family']}"
        return f"jti:{self.claims['jti']}"


def find_token(ctx: Ctx, token: str, hint: str | None) -> Held | None:
    """A refresh token by its hash, or an access token this server signed."""
    if hint != "access_token":
        doc = ctx.store.refresh(digest(token))
        if doc is not None:
            found = StoredRefresh(digest(token), doc)
            claims = {
                "client_id": doc["client_id"],
                "scope": doc["scope"],
                "sub": found.subject.fhir_user,
                "exp": int(doc["expires_at"].timestamp()),
                "family": doc["family"],
            }
            return Held("refresh_token", claims, ctx)
    try:
        decoded = jwt.decode(token, KeySet(list(ctx.keys.keys)), algorithms=[ALG])
    except (JoseError, ValueError, TypeError, UnicodeError):
        return None
    claims = dict(decoded.claims)
    if claims.get("iss") != ctx.settings.auth_issuer or "jti" not in claims:
        return None
    return Held("access_token", claims, ctx)


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["none", "private_key_jwt"]

    def __init__(self, server: Any, ctx: Ctx) -> None:
        super().__init__(server)
        self.ctx = ctx

    def query_token(self, token_string: str, token_type_hint: str | None) -> Held | None:
        return find_token(self.ctx, token_string, token_type_hint)

    def authenticate_token(self, request: Any, client: Client) -> Held | None:
        """The token, if this client holds it; another client's is treated as unknown
        (200, nothing revoked) rather than confirmed by an error."""
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        return token if token is not None and token.check_client(client) else None

    def revoke_token(self, token: Held, request: Any) -> None:
        until = self.ctx.expires(self.ctx.settings.auth_refresh_ttl_s)
        self.ctx.store.revoke(token.revocation_key, until)
        revoked = TokenRevoked(
            client_id=str(token.claims["client_id"]),
            subject=str(token.claims.get("sub", "")),
            kind=token.kind,
            time=self.ctx.clock(),
        )
        with self.ctx.lock:
            self.ctx.events.append(revoked)


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """For operators, auditors, resource servers (role ``introspect``) and a client
    asking about its own token; the caller authenticates with ``private_key_jwt``."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["private_key_jwt"]

    def __init__(self, server: Any, ctx: Ctx) -> None:
        super().__init__(server)
        self.ctx = ctx

    def query_token(self, token_string: str, token_type_hint: str | None) -> Held | None:
        return find_token(self.ctx, token_string, token_type_hint)

    def check_permission(self, token: Held, client: Client, request: Any) -> bool:
        trusted = client.kind is ClientKind.OPERATOR or "introspect" in client.roles
        return trusted or token.check_client(client)

    def introspect_token(self, token: Held) -> dict[str, Any]:
        shown = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti")
        extra = ("fhirUser", "patient", "hospital", "roles", "name")
        body = {k: token.claims[k] for k in (*shown, *extra) if k in token.claims}
        body["token_type"] = "Bearer" if token.kind == "access_token" else "refresh_token"
        return body
