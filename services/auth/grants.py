"""authlib's grants and extensions, bound to this platform's storage and rules.

- ``CodeGrant``: authorization code; the code is stored hashed, lives
  ``auth_code_ttl_s``, is used once (a second use revokes what it gave);
- ``S256Only``: PKCE is required, ``S256`` only (SMART App Launch 2);
- ``IdToken``: ``openid`` → an ``id_token`` with ``fhirUser`` (OpenID Connect core);
- ``RefreshGrant``: rotating refresh tokens; presenting a rotated one revokes the
  family (every refresh token of that sign-in);
- ``SystemGrant``: ``client_credentials`` for hospital systems and operators' tools
  (client authentication: ``assertions.PrivateKeyJwt``).

Everything runs in authlib's worker thread over the synchronous ``OAuthStore``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import KeySet

from services.auth.domain import Client, Subject, digest, scope_for
from services.auth.keys import ALG, SigningKeys
from services.auth.oauthstore import OAuthStore
from services.auth.settings import AuthSettings
from shared.events import Event, RefreshTokenReused


@dataclass
class Ctx:
    """What the grants need: storage, keys, settings, the clock, and the security
    events a request produced (published by the caller after the thread returns)."""

    store: OAuthStore
    keys: SigningKeys
    settings: AuthSettings
    clock: Callable[[], datetime]
    events: list[Event] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def drain(self) -> list[Event]:
        """The security events produced since the last drain."""
        with self.lock:
            taken, self.events = self.events, []
        return taken

    def expires(self, seconds: int) -> datetime:
        return self.clock() + timedelta(seconds=seconds)

    def reused(self, client_id: str, subject: str, family: str) -> None:
        """A used code or rotated refresh token came back: revoke its family."""
        self.store.revoke(f"family:{family}", self.expires(self.settings.auth_refresh_ttl_s))
        reuse = RefreshTokenReused(
            client_id=client_id, subject=subject, family=family, time=self.clock()
        )
        with self.lock:
            self.events.append(reuse)


@dataclass(frozen=True)
class StoredCode:
    """An authorization code as stored (authlib's ``AuthorizationCodeMixin``)."""

    key: str
    doc: dict[str, Any]

    @property
    def subject(self) -> Subject:
        return Subject.from_doc(self.doc["subject"])

    @property
    def code_challenge(self) -> str | None:
        return self.doc.get("code_challenge")

    @property
    def code_challenge_method(self) -> str | None:
        return self.doc.get("code_challenge_method")

    def get_redirect_uri(self) -> str:
        return str(self.doc["redirect_uri"])

    def get_scope(self) -> str:
        return str(self.doc["scope"])

    def get_nonce(self) -> str | None:
        return self.doc.get("nonce")

    def get_auth_time(self) -> int | None:
        return self.subject.auth_time or None

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass(frozen=True)
class StoredRefresh:
    """A refresh token as stored (authlib's ``TokenMixin``)."""

    key: str
    doc: dict[str, Any]

    @property
    def family(self) -> str:
        return str(self.doc["family"])

    @property
    def subject(self) -> Subject:
        return Subject.from_doc(self.doc["subject"])

    def check_client(self, client: Client) -> bool:
        return bool(self.doc["client_id"] == client.client_id)

    def get_scope(self) -> str:
        return str(self.doc["scope"])


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE with ``S256``, required of every client (SMART App Launch 2)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("code_challenge is required (PKCE)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none", "private_key_jwt"]
    ctx: Ctx  # set on the class the server registers

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        aud = self.request.payload.data.get("aud")
        if aud != self.ctx.settings.auth_audience:
            raise InvalidRequestError(
                f"aud must be this platform's FHIR base URL, {self.ctx.settings.auth_audience}",
                redirect_uri=redirect_uri,
            )
        return redirect_uri

    def save_authorization_code(self, code: str, request: Any) -> None:
        subject: Subject = request.user
        data = request.payload.data
        self.ctx.store.save_code(
            digest(code),
            {
                "client_id": request.client.client_id,
                "redirect_uri": request.payload.redirect_uri,
                "scope": scope_for(subject, request.scope or ""),
                "subject": subject.to_doc(),
                "code_challenge": data.get("code_challenge"),
                "code_challenge_method": data.get("code_challenge_method"),
                "nonce": data.get("nonce"),
                "expires_at": self.ctx.expires(self.ctx.settings.auth_code_ttl_s),
            },
        )

    def query_authorization_code(self, code: str, client: Client) -> StoredCode | None:
        key = digest(code)
        doc = self.ctx.store.code(key)
        if doc is None or doc["client_id"] != client.client_id:
            return None
        if not self.ctx.store.use_once(f"code:{key}", doc["expires_at"]):
            self.ctx.reused(client.client_id, Subject.from_doc(doc["subject"]).fhir_user, key)
            return None
        if doc["expires_at"] <= self.ctx.clock():
            return None
        return StoredCode(key, doc)

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        """Kept until it expires (``purge``): a second use must find it to revoke the
        family it started; its use-once marker already makes it unusable."""

    def authenticate_user(self, authorization_code: StoredCode) -> Subject:
        return authorization_code.subject


class IdToken(OpenIDCode):  # type: ignore[misc]
    """``openid``: an id_token signed like the access tokens, with ``fhirUser``."""

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(require_nonce=False)
        self.ctx = ctx

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False  # the code is single use; the client checks its own nonce

    def resolve_client_private_key(self, client: Client) -> KeySet:
        return self.ctx.keys.signing_set

    def get_client_algorithm(self, client: Client) -> str:
        return ALG

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.ctx.settings.auth_issuer,
            "aud": [client.client_id],
            "iat": now,
            "exp": now + self.ctx.settings.auth_access_ttl_s,
        }

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": ALG, "typ": "JWT"}

    def generate_user_info(self, user: Subject, scope: str) -> dict[str, Any]:
        info: dict[str, Any] = {"sub": user.fhir_user}
        if "fhirUser" in scope.split():
            info["fhirUser"] = f"{self.ctx.settings.auth_audience}/{user.fhir_user}"
        if user.name:
            info["name"] = user.name
        return info


class RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none", "private_key_jwt"]
    INCLUDE_NEW_REFRESH_TOKEN = True
    ctx: Ctx

    def authenticate_refresh_token(self, refresh_token: str) -> StoredRefresh | None:
        key = digest(refresh_token)
        doc = self.ctx.store.refresh(key)
        if doc is None or self.ctx.store.revoked(f"family:{doc['family']}"):
            return None
        if not self.ctx.store.use_once(f"refresh:{key}", doc["expires_at"]):
            subject = Subject.from_doc(doc["subject"]).fhir_user
            self.ctx.reused(doc["client_id"], subject, doc["family"])
            return None
        if doc["expires_at"] <= self.ctx.clock():
            return None
        return StoredRefresh(key, doc)

    def authenticate_user(self, refresh_token: StoredRefresh) -> Subject:
        return refresh_token.subject

    def revoke_old_credential(self, refresh_token: StoredRefresh) -> None:
        """Nothing to do: it was used up (``use_once``) before the new one was made."""


class SystemGrant(ClientCredentialsGrant):  # type: ignore[misc]
    """SMART Backend Services: ``client_credentials`` with ``private_key_jwt`` only."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["private_key_jwt"]
