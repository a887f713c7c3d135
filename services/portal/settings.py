"""The portal's settings (docs/portal.md)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import Settings


class PortalSettings(Settings):
    # Where the query service's API is; empty: the local one (this stack's query port).
    portal_query_url: str = ""
    # The patient portal's and the hospital console's back ends (empty: this stack's
    # port of each).
    portal_consent_url: str = ""
    portal_audit_url: str = ""
    portal_notify_url: str = ""
    portal_ingest_url: str = ""
    portal_auth_url: str = ""  # the operator view's status screen (empty: this stack's)
    # A signed-in session ends this long after sign-in (never after the physician's
    # or patient's token, which the portal keeps and cannot renew; a hospital's admin
    # key does not expire, so the console's session ends after this).
    portal_session_ttl_s: int = Field(default=900, gt=0, le=86_400)
    # The cookies carry `Secure` when the request came over https, and always with this.
    portal_cookie_secure: bool = False
    portal_query_timeout_s: float = Field(default=15.0, gt=0)
    # The viewer is a confidential SMART app of the auth service (docs/portal.md,
    # "Sign-in"): its client id (as the auth service registers it), where the auth
    # service sends the browser back (empty: this stack's portal port's /callback), and
    # its private JWK (production: from a Secret; empty in development: the key the auth
    # service made under the shared data dir, ``<data_dir>/auth/<client>.jwk``).
    portal_client: str = "healthlink-portal"
    portal_redirect_uri: str = ""
    # the patient portal's sign-in comes back here (empty: this stack's /patient/callback)
    portal_patient_redirect_uri: str = ""
    portal_client_key: str = ""
    data_dir: str = ".data"

    def redirect_uri(self) -> str:
        return self.portal_redirect_uri or f"http://127.0.0.1:{self.port('portal')}/callback"

    def patient_redirect_uri(self) -> str:
        local = f"http://127.0.0.1:{self.port('portal')}/patient/callback"
        return self.portal_patient_redirect_uri or local

    def query_url(self) -> str:
        return self.service_url("query")

    def service_url(self, service: str) -> str:
        """A back end's base URL: its setting, else this stack's port of it."""
        given: str = getattr(self, f"portal_{service}_url")
        return (given or f"http://127.0.0.1:{self.port(service)}").rstrip("/")
