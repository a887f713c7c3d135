"""SMART App Launch 2 discovery: the document the auth service (the issuer) publishes at
``/.well-known/smart-configuration``, which the query service serves too (a FHIR
server's clients look for it beside the FHIR base)."""

from __future__ import annotations

from typing import Any

SCOPES = ["openid", "fhirUser", "launch/patient", "offline_access", "online_access",
          "patient/*.rs", "user/*.rs", "system/*.rs"]  # fmt: skip
CAPABILITIES = [
    "launch-standalone", "client-public", "client-confidential-asymmetric",
    "context-standalone-patient", "permission-offline", "permission-online",
    "permission-patient", "permission-user", "permission-v1", "permission-v2",
    "sso-openid-connect",
]  # fmt: skip
GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]


def endpoints(issuer: str) -> dict[str, str]:
    """The issuer and its endpoints, as both discovery documents name them."""
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
    }


def smart_configuration(issuer: str) -> dict[str, Any]:
    """SMART App Launch discovery: endpoints, grant types, scopes, capabilities."""
    return {
        **endpoints(issuer),
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "ES384", "RS256", "RS384"],
        "response_types_supported": ["code"],
        "scopes_supported": SCOPES,
        "code_challenge_methods_supported": ["S256"],
        "capabilities": CAPABILITIES,
    }
