"""The physicians' viewer as a SMART on FHIR app of the auth service (docs/portal.md,
"Sign-in"): the authorization request (code + PKCE S256, ``state``, ``aud`` = query's FHIR
base) and the code exchange, server-side, as a confidential client (``private_key_jwt``).

authlib's OAuth 2 client builds the authorization URL and makes the token request; the
assertion is the platform's (``healthlink_adapter.smart.client_assertion``: ES256, 4
minutes, a fresh ``jti``), given to authlib as its client authentication method. The
access token is verified with the auth service's keys (``shared/auth.py``) before the
portal believes who it names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.integrations.httpx_client import OAuthError as HttpxOAuthError
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from healthlink_adapter.smart import client_assertion
from joserfc.jwk import ECKey

from services.portal.errors import SignInFailed
from shared.auth import TokenVerifier
from shared.errors import HealthLinkError
from shared.logging import get_logger

log = get_logger(__name__)

# online_access: a refresh token, so the session outlives the 5-minute access token
SCOPE = "openid fhirUser online_access user/*.rs"
# the patient portal: the patient signs in on the auth service's page (CID, code to the
# phone, face scan); their own record only (docs/portal.md, "The patient portal")
PATIENT_SCOPE = "launch/patient openid fhirUser online_access patient/*.rs"


@dataclass(frozen=True)
class SignedIn:
    """What the code bought: the access token (kept server-side), whom it names, and how
    long it lasts."""

    token: str
    licence: str
    hospital: str
    expires_in: int
    refresh_token: str | None = None
    patient: str | None = None  # the patient portal's sign-in: the patient's CID


class SmartApp(Protocol):
    async def authorization_url(self, state: str, verifier: str, lang: str) -> str: ...

    async def exchange(self, code: str, verifier: str) -> SignedIn: ...

    async def refresh(self, refresh_token: str) -> SignedIn: ...

    async def revoke(self, refresh_token: str) -> None: ...


async def revoke_quietly(smart: SmartApp | None, refresh_token: str | None, ref: str) -> None:
    """Sign-out, best effort: the refresh token revoked at the auth service (RFC 7009;
    its whole family ends). A failure is logged with ``ref`` (the session's stored id,
    never a token) and the reason, and does not stop the sign-out."""
    if smart is None or not refresh_token:
        return
    try:
        await smart.revoke(refresh_token)
    except Exception as exc:  # best effort: the session is forgotten anyway
        reason = exc.code if isinstance(exc, HealthLinkError) else type(exc).__name__
        log.warning("refresh token not revoked at sign-out", session=ref, reason=reason)


class _Assertion(PrivateKeyJWT):  # type: ignore[misc]
    """authlib's ``private_key_jwt`` method, with the platform's short-lived assertion."""

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return client_assertion(auth.client_secret, auth.client_id, token_endpoint)


def load_client_key(given: str, path: Path) -> ECKey | None:
    """The portal's private key: the JWK given (production, from a Secret), else the
    file the auth service made in the shared data dir (development); None: neither."""
    if given:
        return ECKey.import_key(json.loads(given))
    if path.exists():
        return ECKey.import_key(json.loads(path.read_text()))
    return None


class HttpSmartApp:
    """The auth service over HTTP: discovery once, then authorize and token."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        client_id: str,
        redirect_uri: str,
        client_key: str,
        key_file: Path,
        verifier: TokenVerifier,
        timeout_s: float,
        for_patients: bool = False,
    ) -> None:
        """``for_patients``: the patient portal's sign-in (``PATIENT_SCOPE``; the token
        must name the patient who signed in), else the viewer's (a physician)."""
        self._issuer, self._audience = issuer.rstrip("/"), audience
        self._for_patients = for_patients
        self._client_id, self._redirect_uri = client_id, redirect_uri
        self._given, self._key_file = client_key, key_file
        self._key: ECKey | None = None
        self._verifier = verifier
        self._http = httpx.AsyncClient(timeout=timeout_s)
        self._endpoints: dict[str, str] | None = None
        self._timeout = timeout_s

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _discovered(self) -> dict[str, str]:
        if self._endpoints is None:
            url = f"{self._issuer}/.well-known/smart-configuration"
            try:
                r = await self._http.get(url)
                found = r.json() if r.status_code == 200 else {}
                endpoints = {k: str(found[k]) for k in ("authorization_endpoint", "token_endpoint")}
                if isinstance(found.get("revocation_endpoint"), str):
                    endpoints["revocation_endpoint"] = found["revocation_endpoint"]
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                raise SignInFailed("the sign-in service does not answer") from exc
            self._endpoints = endpoints
        return self._endpoints

    def _client(self) -> AsyncOAuth2Client:
        # read when first needed: in development the auth service makes it at its start
        self._key = self._key or load_client_key(self._given, self._key_file)
        if self._key is None:
            raise SignInFailed("the portal has no client key for the sign-in service")
        client = AsyncOAuth2Client(
            self._client_id,
            self._key,
            token_endpoint_auth_method="private_key_jwt",
            revocation_endpoint_auth_method="private_key_jwt",  # authlib's default: basic
            redirect_uri=self._redirect_uri,
            scope=PATIENT_SCOPE if self._for_patients else SCOPE,
            code_challenge_method="S256",
            timeout=self._timeout,
        )
        client.register_client_auth_method(_Assertion())
        return client

    async def authorization_url(self, state: str, verifier: str, lang: str) -> str:
        endpoints = await self._discovered()
        async with self._client() as client:
            url, _ = client.create_authorization_url(
                endpoints["authorization_endpoint"],
                state=state,
                code_verifier=verifier,
                aud=self._audience,
                ui_locales=lang,
            )
        return str(url)

    async def exchange(self, code: str, verifier: str) -> SignedIn:
        return await self._token(code=code, code_verifier=verifier)

    async def refresh(self, refresh_token: str) -> SignedIn:
        return await self._token(refresh_token=refresh_token)

    async def revoke(self, refresh_token: str) -> None:
        """RFC 7009 at the auth service, authenticated as at the token endpoint."""
        url = (await self._discovered()).get("revocation_endpoint")
        if not url:
            raise SignInFailed("the sign-in service names no revocation endpoint")
        try:
            async with self._client() as client:
                r = await client.revoke_token(
                    url, token=refresh_token, token_type_hint="refresh_token"
                )
        except httpx.HTTPError as exc:
            raise SignInFailed(
                f"the sign-in service does not answer: {type(exc).__name__}"
            ) from exc
        if r.status_code != 200:
            raise SignInFailed(f"the sign-in service refused the revocation: {r.status_code}")

    async def _token(self, **grant: str) -> SignedIn:
        """A token for the code (and verifier) or the refresh token, verified."""
        endpoints = await self._discovered()
        url = endpoints["token_endpoint"]
        try:
            async with self._client() as client:
                if "refresh_token" in grant:
                    token = await client.refresh_token(url, refresh_token=grant["refresh_token"])
                else:
                    token = await client.fetch_token(url, **grant)
        except (OAuth2Error, HttpxOAuthError) as exc:
            raise SignInFailed(f"the code was refused: {exc.error}") from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise SignInFailed(
                f"the sign-in service does not answer: {type(exc).__name__}"
            ) from exc
        try:
            principal = await self._verifier.verify(str(token["access_token"]))
        except (HealthLinkError, KeyError) as exc:
            raise SignInFailed("the sign-in service's token could not be verified") from exc
        expires_in = int(token.get("expires_in") or 0) or 60
        refresh = str(token["refresh_token"]) if token.get("refresh_token") else None
        if self._for_patients:
            cid = principal.patient
            if not cid or principal.fhir_user != f"Patient/{cid}":
                raise SignInFailed("the token names no patient signed in by themselves")
            return SignedIn(str(token["access_token"]), "", "", expires_in, refresh, patient=cid)
        if principal.licence is None or principal.hospital is None:
            raise SignInFailed("the token names no physician and hospital")
        return SignedIn(
            token=str(token["access_token"]),
            licence=principal.licence,
            hospital=principal.hospital,
            expires_in=expires_in,
            refresh_token=refresh,
        )
