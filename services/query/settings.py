"""The query service's own settings (``HEALTHLINK_QUERY_*``), beside the shared ones."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class QuerySettings(BaseSettings):
    """Break-glass, sign-in lockout, read-cache limits and where charts are merged."""

    model_config = SettingsConfigDict(env_prefix="HEALTHLINK_QUERY_", extra="ignore")

    break_glass_ttl_s: int = Field(default=3600, gt=0, le=24 * 3600)
    max_sign_in_failures: int = Field(default=5, ge=1)
    failure_window_s: int = Field(default=900, gt=0)
    lockout_s: int = Field(default=900, gt=0)
    chart_cache_bytes: int = Field(default=64_000_000, ge=0)
    default_count: int = Field(default=100, ge=1, le=1000)
    # "process": stored records are merged into charts by a child process at a lower
    # CPU priority (services/query/projector.py); "inline": in the service's own process.
    projector: Literal["process", "inline"] = "process"
    projector_nice: int = Field(default=10, ge=0, le=19)
