"""How every service checks the auth service's access tokens, and SMART v2 scopes.

``TokenVerifier.verify(token)`` returns a typed ``Principal`` or raises
``Unauthorized``: the token must be a compact JWS (``typ: at+jwt``, RFC 9068) signed
with ES256 by a key of the issuer's JWK set (``kid`` required), with the expected
``iss`` and ``aud`` and a current ``exp``/``nbf``. The key set is the issuer's
``/.well-known/jwks.json`` (``HEALTHLINK_AUTH_URL``), cached and fetched again on an
unknown ``kid`` at most once per ``refetch_interval_s``; or an inline set
(``HEALTHLINK_AUTH_JWKS``, tests). Nothing a caller sends (non-ASCII, binary,
oversized) raises anything but ``Unauthorized``.

Scopes follow SMART App Launch 2 (``patient/Observation.rs``, ``user/*.cruds``,
``system/*.rs``); the v1 forms ``.read``, ``.write`` and ``.*`` are read as their v2
equivalents (``rs``, ``cud``, ``cruds``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from shared.errors import Transient, Unauthorized

ALGORITHMS = ("ES256",)
ACCESS_TOKEN_TYPE = "at+jwt"
MAX_TOKEN_CHARS = 8192
CONTEXTS = ("patient", "user", "system")
V1_ACTIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_RESOURCE = re.compile(r"^(\*|[A-Z][A-Za-z]{1,63})$")
_V2_ACTIONS = re.compile(r"^c?r?u?d?s?$")  # create, read, update, delete, search: in this order

Fetch = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Scope:
    """One SMART resource scope: ``context/resource.actions`` with optional parameters."""

    context: str
    resource: str
    actions: str
    params: tuple[tuple[str, str], ...] = ()

    def grants(self, resource: str, action: str, contexts: Iterable[str] = CONTEXTS) -> bool:
        """Whether this scope allows ``action`` (one of c r u d s) on ``resource``."""
        return (
            self.context in contexts
            and self.resource in ("*", resource)
            and action in self.actions
            and not self.params
        )

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params)
        return f"{self.context}/{self.resource}.{self.actions}" + (f"?{query}" if query else "")


def parse_scope(text: str) -> Scope | None:
    """A resource scope, or None for any other scope (``openid``, ``launch/patient``…)."""
    head, _, query = text.partition("?")
    context, slash, rest = head.partition("/")
    resource, dot, actions = rest.partition(".")
    if not slash or not dot or context not in CONTEXTS or not _RESOURCE.match(resource):
        return None
    actions = V1_ACTIONS.get(actions, actions)
    if not actions or not _V2_ACTIONS.match(actions):
        return None
    params: list[tuple[str, str]] = []
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        params.append((key, value))
    return Scope(context, resource, actions, tuple(params))


def parse_scopes(text: str) -> tuple[Scope, ...]:
    return tuple(s for s in (parse_scope(part) for part in text.split()) if s is not None)


def covered(requested: Scope, allowed: Iterable[Scope]) -> bool:
    """Whether ``requested`` asks for nothing beyond one of ``allowed`` scopes."""
    return any(
        a.context == requested.context
        and a.resource in ("*", requested.resource)
        and set(requested.actions) <= set(a.actions)
        and (not a.params or a.params == requested.params)
        for a in allowed
    )


@dataclass(frozen=True)
class Principal:
    """Who holds a verified access token, and what it allows."""

    subject: str
    client_id: str
    scope: str
    token_id: str
    expires_at: int
    fhir_user: str | None = None
    hospital: str | None = None
    patient: str | None = None
    roles: tuple[str, ...] = ()
    name: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def scopes(self) -> tuple[Scope, ...]:
        return parse_scopes(self.scope)

    @property
    def licence(self) -> str | None:
        """The physician's licence when the token names a practitioner."""
        kind, _, ident = (self.fhir_user or "").partition("/")
        return ident if kind == "Practitioner" and ident else None

    def may(self, resource: str, action: str, contexts: Iterable[str] = CONTEXTS) -> bool:
        return any(s.grants(resource, action, tuple(contexts)) for s in self.scopes)

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        roles = claims.get("roles") or ()
        if not isinstance(roles, list | tuple) or not all(isinstance(r, str) for r in roles):
            raise Unauthorized("invalid token: roles")
        try:
            return cls(
                subject=_text(claims, "sub", required=True) or "",
                client_id=_text(claims, "client_id", required=True) or "",
                scope=_text(claims, "scope") or "",
                token_id=_text(claims, "jti", required=True) or "",
                expires_at=int(claims["exp"]),
                fhir_user=_text(claims, "fhirUser"),
                hospital=_text(claims, "hospital"),
                patient=_text(claims, "patient"),
                roles=tuple(roles),
                name=_text(claims, "name"),
                claims=claims,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise Unauthorized("invalid token: claims") from exc


def _text(claims: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = claims.get(name)
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or not value:
        raise Unauthorized(f"invalid token: {name}")
    return value


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header value, or ``Unauthorized``."""
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token")
    if not token.isascii() or len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized("malformed bearer token")
    return token


async def fetch_jwks(url: str) -> dict[str, Any]:
    """The issuer's JWK set over HTTP (5 s timeout)."""
    async with httpx.AsyncClient(timeout=5.0) as http:
        response = await http.get(url)
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found


class TokenVerifier:
    """Verifies access tokens against the issuer's keys; see the module docstring."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: dict[str, Any] | None = None,
        jwks_url: str | None = None,
        fetch: Fetch = fetch_jwks,
        leeway_s: int = 30,
        refetch_interval_s: float = 30.0,
        algorithms: tuple[str, ...] = ALGORITHMS,
    ) -> None:
        if jwks is None and jwks_url is None:
            raise ValueError("a TokenVerifier needs the issuer's JWK set or its URL")
        self.issuer = issuer
        self.audience = audience
        self._keys = KeySet.import_key_set(jwks) if jwks is not None else None  # type: ignore[arg-type]
        self._url = jwks_url
        self._fetch = fetch
        self._leeway = leeway_s
        self._interval = refetch_interval_s
        self._algorithms = list(algorithms)
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> Principal:
        """The principal of a valid access token, or ``Unauthorized``."""
        header = self._header(token)
        keys = await self._keys_with(str(header["kid"]))
        try:
            decoded = jwt.decode(token, keys, algorithms=self._algorithms)
        except (JoseError, ValueError, TypeError) as exc:
            raise Unauthorized("invalid token signature") from exc
        registry = jwt.JWTClaimsRegistry(
            leeway=self._leeway,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "values": [self.audience]},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(decoded.claims)
        except JoseError as exc:
            raise Unauthorized(f"token refused: {exc.error}") from exc
        return Principal.from_claims(decoded.claims)

    async def verify_header(self, authorization: str | None) -> Principal:
        return await self.verify(bearer_token(authorization))

    def _header(self, token: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN_CHARS:
            raise Unauthorized("malformed token")
        try:
            header: dict[str, Any] = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError, TypeError, UnicodeError) as exc:
            raise Unauthorized("malformed token") from exc
        if header.get("alg") not in self._algorithms:
            raise Unauthorized("token signed with an algorithm this platform does not use")
        if str(header.get("typ", "")).lower() not in (ACCESS_TOKEN_TYPE, "application/at+jwt"):
            raise Unauthorized("not an access token (typ at+jwt expected)")
        if not isinstance(header.get("kid"), str):
            raise Unauthorized("token without a key id")
        return header

    async def _keys_with(self, kid: str) -> KeySet:
        if self._keys is not None and _has(self._keys, kid):
            return self._keys
        if self._url is None:
            raise Unauthorized("token signed with an unknown key")
        async with self._lock:
            if self._keys is not None and _has(self._keys, kid):
                return self._keys
            if time.monotonic() - self._fetched_at >= self._interval:
                self._fetched_at = time.monotonic()
                try:
                    found = await self._fetch(self._url)
                    self._keys = KeySet.import_key_set(found)  # type: ignore[arg-type]
                except (httpx.HTTPError, JoseError, ValueError, TypeError) as exc:
                    if self._keys is None:
                        raise Transient("the issuer's keys cannot be read now") from exc
        if self._keys is None or not _has(self._keys, kid):
            raise Unauthorized("token signed with an unknown key")
        return self._keys


def _has(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)
