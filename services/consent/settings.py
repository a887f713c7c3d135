"""Settings only the consent service reads (``HEALTHLINK_`` prefix, like the shared ones)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import Settings


class ConsentSettings(BaseSettings):
    """The identity verifier and the background loops' pace."""

    model_config = SettingsConfigDict(env_prefix="HEALTHLINK_", extra="ignore")

    verifier_url: str | None = None
    verifier_timeout_s: float = Field(default=10.0, gt=0)
    expiry_interval_s: float = Field(default=0.5, gt=0)
    relay_interval_s: float = Field(default=2.0, gt=0)

    def check(self, settings: Settings) -> None:
        """The development verifier accepts a fixed scan: never in production."""
        if settings.environment == "production" and not self.verifier_url:
            raise ValueError("set HEALTHLINK_VERIFIER_URL in production")
