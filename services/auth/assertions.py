"""``private_key_jwt``: RFC 7523 client authentication against the client's registered
JWK set (SMART Backend Services): ES256/ES384/RS256/RS384, ``exp`` at most 5 minutes
ahead, each ``jti`` once (a use-once marker), the signature checked before the ``jti``
is recorded, so nobody can use up another client's ids."""

from __future__ import annotations

import time
from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from services.auth.domain import Client
from services.auth.grants import Ctx

ASSERTION_ALGORITHMS = ["ES256", "ES384", "RS256", "RS384"]
MAX_ASSERTION_LIFETIME_S = 300


class PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    """``private_key_jwt``: the assertion is checked against the client's own JWK set."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.ctx = ctx

    def get_audiences(self) -> list[str]:
        issuer = self.ctx.settings.auth_issuer
        return [f"{issuer}/token", issuer, f"{issuer}/introspect", f"{issuer}/revoke"]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        if not client.jwks:
            raise InvalidClientError(description="the client has no registered JWK set")
        try:
            return KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidClientError(description="the client's JWK set is unusable") from exc

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidClientError(description="the client assertion is not valid") from exc
        claims: dict[str, Any] = dict(token.claims)
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp - time.time() > MAX_ASSERTION_LIFETIME_S + 30:
            raise InvalidClientError(description="the assertion's exp is over 5 minutes ahead")
        self.verify_claims(claims)
        return claims

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            return False
        until = self.ctx.expires(MAX_ASSERTION_LIFETIME_S * 2)
        return self.ctx.store.use_once(f"jti:{claims['sub']}:{jti}", until)
