"""authlib's OAuth 2 server core on this platform: the server and the token generator
(RFC 9068 JWT access tokens); revocation and introspection are in ``endpoints.py``.

authlib ships Flask and Django integrations, not Starlette's: ``FormRequest`` is the
request it reads (built by the web edge after the form was read asynchronously), and
``handle_response`` returns ``(status, body, headers)`` for the edge to send. Every
call here is synchronous and runs in a worker thread (``asyncio.to_thread``), over
the synchronous ``OAuthStore`` (docs/auth.md, "Why authlib's core").
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc.jwk import KeySet

from services.auth.assertions import PrivateKeyJwt
from services.auth.domain import OFFLINE, Client, Subject, digest, new_secret
from services.auth.endpoints import Introspection, Revocation
from services.auth.grants import (
    CodeGrant,
    Ctx,
    IdToken,
    RefreshGrant,
    S256Only,
    StoredRefresh,
    SystemGrant,
)
from services.auth.keys import ALG

Pairs = list[tuple[str, str]]
Result = tuple[int, Any, list[tuple[str, str]]]
REFRESH_SCOPES = (OFFLINE, "online_access")


class PairsPayload(OAuth2Payload):  # type: ignore[misc]
    """The query or form parameters; the first value of a repeated one wins."""

    def __init__(self, pairs: Pairs) -> None:
        self._data: dict[str, str] = {}
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._data.setdefault(key, value)
            self._datalist[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class FormRequest(OAuth2Request):  # type: ignore[misc]
    """An HTTP request as authlib reads it: method, URL, headers, parameters."""

    def __init__(self, method: str, uri: str, pairs: Pairs, headers: dict[str, str]) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = PairsPayload(pairs)

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data


class AccessTokens(JWTBearerTokenGenerator):  # type: ignore[misc]
    """ES256 JWT access tokens (``typ: at+jwt``), ``auth_access_ttl_s`` long, with the
    SMART claims; a refresh token only with ``offline_access``/``online_access``."""

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(
            issuer=ctx.settings.auth_issuer,
            alg=ALG,
            refresh_token_generator=self._refresh_token,
            expires_generator=ctx.settings.auth_access_ttl_s,
        )
        self.ctx = ctx

    def get_jwks(self) -> KeySet:
        return self.ctx.keys.signing_set

    def get_audiences(self, client: Client, user: Subject | None, scope: str) -> str:
        return self.ctx.settings.auth_audience

    def get_auth_time(self, user: Subject | None) -> int | None:
        return user.auth_time if user and user.auth_time else None

    def get_extra_claims(
        self, client: Client, grant_type: str, user: Subject | None, scope: str
    ) -> dict[str, Any]:
        if user is None:  # a hospital system or an operator's tool
            claims: dict[str, Any] = {"name": client.name}
            if client.hospital:
                claims["hospital"] = client.hospital
            if client.roles:
                claims["roles"] = list(client.roles)
            return claims
        claims = {"fhirUser": user.fhir_user}
        if user.name:
            claims["name"] = user.name
        if user.hospital:
            claims["hospital"] = user.hospital
        if user.patient:
            claims["patient"] = user.patient
        return claims

    @staticmethod
    def _refresh_token(
        client: Client, grant_type: str, user: Subject | None, scope: str
    ) -> str | None:
        wanted = any(s in scope.split() for s in REFRESH_SCOPES)
        return new_secret() if wanted and user is not None else None

    def generate(
        self,
        grant_type: str,
        client: Client,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        token: dict[str, Any] = super().generate(
            grant_type, client, user, scope, expires_in, include_refresh_token
        )
        if not token.get("refresh_token"):
            token.pop("refresh_token", None)
        if isinstance(user, Subject) and user.patient:
            token["patient"] = user.patient
            token["need_patient_banner"] = user.kind == "physician"
        return token


class AuthServer(AuthorizationServer):  # type: ignore[misc]
    """The authorization server: grants, client authentication, endpoints."""

    def __init__(self, ctx: Ctx) -> None:
        super().__init__()
        self.ctx = ctx
        code = type("BoundCodeGrant", (CodeGrant,), {"ctx": ctx})
        refresh = type("BoundRefreshGrant", (RefreshGrant,), {"ctx": ctx})
        self.register_grant(code, [S256Only(required=True), IdToken(ctx)])
        self.register_grant(refresh)
        self.register_grant(SystemGrant)
        self.register_client_auth_method("private_key_jwt", PrivateKeyJwt(ctx))
        self.register_token_generator("default", AccessTokens(ctx))
        self.register_endpoint(Revocation(self, ctx))
        self.register_endpoint(Introspection(self, ctx))

    def query_client(self, client_id: Any) -> Client | None:
        if not isinstance(client_id, str) or not client_id or len(client_id) > 64:
            return None
        client = self.ctx.store.client(client_id)
        return client if client is not None and client.active else None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        refresh = token.get("refresh_token")
        if not refresh:
            return
        held: StoredRefresh | None = request.refresh_token
        if held is not None:  # a rotation: same family, same end
            family, expires_at = held.family, held.doc["expires_at"]
        else:
            family = request.authorization_code.key
            expires_at = self.ctx.expires(self.ctx.settings.auth_refresh_ttl_s)
        self.ctx.store.save_refresh(
            digest(refresh),
            {
                "client_id": request.client.client_id,
                "scope": token.get("scope", ""),
                "subject": request.user.to_doc(),
                "family": family,
                "expires_at": expires_at,
                "issued_at": self.ctx.clock(),
            },
        )

    def create_oauth2_request(self, request: Any) -> FormRequest:
        if not isinstance(request, FormRequest):
            raise TypeError("the web edge passes a FormRequest")
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON endpoints")

    def handle_response(self, status: int, body: Any, headers: Any) -> Result:
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals: security events go through ``Ctx.events``."""

    # --- what the web edge and the use cases call (in a worker thread) -------------

    def token(self, request: FormRequest) -> Result:
        result: Result = self.create_token_response(request)
        return result

    def revoke(self, request: FormRequest) -> Result:
        result: Result = self.create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME, request)
        return result

    def introspect(self, request: FormRequest) -> Result:
        name = IntrospectionEndpoint.ENDPOINT_NAME
        result: Result = self.create_endpoint_response(name, request)
        return result

    def check_authorization(self, request: FormRequest) -> tuple[Client, str, str]:
        """Validate an authorization request: its client, redirect URI and the scopes
        the client may have. Raises authlib's ``OAuth2Error`` (with ``redirect_uri``
        set when the error may go back to the app)."""
        grant = self.get_consent_grant(request)
        return grant.request.client, grant.redirect_uri, grant.request.scope or ""

    def authorize(self, request: FormRequest, subject: Subject) -> Result:
        """The redirect back to the app, with a new code for ``subject``."""
        grant = self.get_consent_grant(request, end_user=subject)
        result: Result = self.create_authorization_response(request, subject, grant)
        return result
