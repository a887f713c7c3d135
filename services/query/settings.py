"""The query service's settings: the shared ones, break-glass, sign-in lockout, read
cache and where charts are merged (``HEALTHLINK_`` prefix)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.settings import Settings


class QuerySettings(Settings):
    """Break-glass, sign-in lockout, read-cache limits and where charts are merged."""

    break_glass_ttl_s: int = Field(default=3600, gt=0, le=24 * 3600)
    max_sign_in_failures: int = Field(default=5, ge=1)
    sign_in_failure_window_s: int = Field(default=900, gt=0)
    lockout_s: int = Field(default=900, gt=0)
    chart_cache_bytes: int = Field(default=64_000_000, ge=0)
    fhir_page_size: int = Field(default=100, ge=1, le=1000)
    # "process": stored records are merged into charts by a child process at a lower
    # CPU priority (services/query/projector.py); "inline": in the service's own process.
    query_projector: Literal["process", "inline"] = "process"
    query_projector_nice: int = Field(default=10, ge=0, le=19)
    # A read waits at most this long for the charts to merge what was stored before it
    # began (services/query/freshness.py), then answers 503 with Retry-After.
    query_read_wait_s: float = Field(default=10.0, ge=0.0, le=60.0)
    # Where clients reach this service (the FHIR base is this + "/fhir"): every fullUrl
    # and Bundle link is absolute on it. Empty: http://127.0.0.1:<query port>.
    query_public_url: str = ""
    # The SMART authorization server (HEALTHLINK_AUTH_ISSUER, shared settings) is
    # announced in the CapabilityStatement and /.well-known/smart-configuration; its JWK
    # set is read from HEALTHLINK_AUTH_JWKS_URL (set it when the public issuer URL is not
    # reachable from inside the platform).

    @property
    def public_url(self) -> str:
        return (self.query_public_url or f"http://127.0.0.1:{self.port('query')}").rstrip("/")

    @property
    def fhir_base(self) -> str:
        return f"{self.public_url}/fhir"
