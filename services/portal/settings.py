"""The portal's settings (docs/portal.md)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import Settings


class PortalSettings(Settings):
    # Where the query service's API is; empty: the local one (this stack's query port).
    portal_query_url: str = ""
    # A signed-in session ends this long after sign-in (never after the physician's
    # query token, which the portal keeps and cannot renew).
    portal_session_ttl_s: int = Field(default=900, gt=0, le=86_400)
    # The cookies carry `Secure` when the request came over https, and always with this.
    portal_cookie_secure: bool = False
    portal_query_timeout_s: float = Field(default=15.0, gt=0)

    def query_url(self) -> str:
        return (self.portal_query_url or f"http://127.0.0.1:{self.port('query')}").rstrip("/")
