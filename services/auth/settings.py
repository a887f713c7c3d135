"""The auth service's settings: issuer and audience, signing keys, token lifetimes, the
sign-in lockout and throttles, the patients' OTP and face-scan steps, the development
operator (``HEALTHLINK_`` prefix; names unique across services)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from shared.settings import DEV_SECRET, Settings, require_https


class AuthSettings(Settings):
    """See docs/auth.md for each one."""

    # Where the auth service is reached (the ``iss`` of its tokens) and the FHIR base
    # URL the tokens are for (their ``aud``; the ``aud`` a SMART app sends). Empty: this
    # machine's auth and query ports (``HEALTHLINK_SERVICE_PORT_BASE`` moves them), as the
    # query service's own default issuer does, so a moved stack agrees with itself.
    auth_issuer: str = ""
    auth_audience: str = ""
    # A private JWK set (JSON); the first key signs, every key is published. Unset in
    # development: one key derived from the development secret (refused in production).
    auth_signing_keys: str | None = None
    auth_access_ttl_s: int = Field(default=300, gt=0, le=3600)
    auth_code_ttl_s: int = Field(default=60, gt=0, le=600)
    auth_refresh_ttl_s: int = Field(default=12 * 3600, gt=0)
    auth_interaction_ttl_s: int = Field(default=600, gt=0, le=3600)
    # Lockout: at most this many failed PIN checks per licence in a fixed window.
    auth_max_failures: int = Field(default=5, ge=1, le=50)
    auth_failure_window_s: int = Field(default=900, gt=0)
    # Throttles on the sign-in doors (per client address, and for all addresses).
    auth_throttle_per_address: str = "30/minute"
    auth_throttle_global: str = "300/minute"
    auth_argon2_concurrency: int = Field(default=2, ge=1, le=16)  # memory_kib each
    auth_argon2_memory_kib: int = Field(default=65536, ge=8)
    auth_argon2_time_cost: int = Field(default=3, ge=1)
    # Patients: a one-time code to the phone opens a device session; the face scan
    # is checked by the consent service's verification.
    auth_otp_sender: Literal["file", "webhook"] = "file"
    auth_otp_webhook_url: str | None = None
    auth_otp_ttl_s: int = Field(default=300, gt=0, le=3600)
    auth_otp_max_attempts: int = Field(default=5, ge=1, le=10)
    consent_url: str = ""  # empty: this machine's consent port
    # The first operator, made at start if absent: with its public JWK set given
    # (production: from a Secret), or in development with a key generated under data_dir.
    data_dir: str = ".data"
    auth_bootstrap_operator: str | None = "dev-operator"
    auth_bootstrap_operator_jwks: str | None = None
    # The physicians' viewer (the portal) as a confidential SMART app, registered at start
    # (docs/portal.md, "Sign-in"): its exact redirect URIs (empty: this stack's portal
    # port's /callback) and its public JWK set (unset in development: a key made under
    # data_dir, which the portal reads; required in production). Empty id: none.
    auth_portal_client: str | None = "healthlink-portal"
    auth_portal_redirect_uris: list[str] = Field(default_factory=list)
    auth_portal_client_jwks: str | None = None
    auth_relay_interval_s: float = Field(default=2.0, gt=0)
    auth_purge_interval_s: float = Field(default=60.0, gt=0)

    @field_validator("auth_portal_redirect_uris", mode="before")
    @classmethod
    def _uris_from_text(cls, value: Any) -> Any:
        """A JSON list given as text (compose's ``${…:-[]}``, a value passed as is)."""
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    @model_validator(mode="after")
    def _neighbours_on_this_machine(self) -> AuthSettings:
        """Unset URLs: the local ports of auth, query and consent (before the checks)."""
        local = "http://127.0.0.1"
        self.auth_issuer = self.auth_issuer or f"{local}:{self.port('auth')}"
        self.auth_audience = self.auth_audience or f"{local}:{self.port('query')}/fhir"
        self.consent_url = self.consent_url or f"{local}:{self.port('consent')}"
        portal = f"{local}:{self.port('portal')}"
        self.auth_portal_redirect_uris = self.auth_portal_redirect_uris or [
            f"{portal}/callback",
            f"{portal}/patient/callback",
        ]
        return self

    @model_validator(mode="after")
    def _refuse_development_parts_in_production(self) -> AuthSettings:
        """Derived keys, codes written to a file and a generated operator key are for
        development only."""
        if self.environment != "production":
            return self
        if not self.auth_signing_keys:
            raise ValueError("set HEALTHLINK_AUTH_SIGNING_KEYS (a private JWK set) in production")
        _require_private_keys(self.auth_signing_keys, self.token_secret)
        if self.auth_otp_sender == "file" or not self.auth_otp_webhook_url:
            raise ValueError("set HEALTHLINK_AUTH_OTP_SENDER=webhook and its URL in production")
        if self.auth_bootstrap_operator and not self.auth_bootstrap_operator_jwks:
            raise ValueError("a bootstrap operator in production needs its public JWK set")
        if self.auth_portal_client and not self.auth_portal_client_jwks:
            raise ValueError("the portal's client in production needs its public JWK set")
        if self.auth_argon2_memory_kib < 19456:
            raise ValueError("argon2id needs at least 19 MiB per PIN check in production")
        if not self.auth_issuer.startswith("https://"):
            raise ValueError("the issuer must be an https URL in production")
        require_https("HEALTHLINK_AUTH_AUDIENCE", self.auth_audience)
        require_https("HEALTHLINK_AUTH_OTP_WEBHOOK_URL", self.auth_otp_webhook_url)
        return self


def _require_private_keys(text: str, token_secret: str) -> None:
    """A JSON JWK set of private EC keys, none of them the development key (derived from
    the token secret or the development secret)."""
    from services.auth.keys import derived_key  # the keys module reads these settings

    try:
        found = json.loads(text)
        keys = found["keys"]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError("HEALTHLINK_AUTH_SIGNING_KEYS must be a JWK set (JSON)") from exc
    if not isinstance(keys, list) or not keys:
        raise ValueError("HEALTHLINK_AUTH_SIGNING_KEYS holds no key")
    if not all(isinstance(k, dict) and k.get("d") for k in keys):
        raise ValueError("HEALTHLINK_AUTH_SIGNING_KEYS must hold private keys")
    development = {
        derived_key(secret).as_dict(private=False)["x"] for secret in (token_secret, DEV_SECRET)
    }
    if any(k.get("x") in development for k in keys):
        raise ValueError("HEALTHLINK_AUTH_SIGNING_KEYS holds a development key")
