"""The consent service's settings: the shared ones, the identity verifier and the pace
of its background loops (``HEALTHLINK_`` prefix)."""

from __future__ import annotations

from pydantic import Field, model_validator

from shared.settings import Settings, require_https


class ConsentSettings(Settings):
    """The identity verifier and the background loops' pace."""

    verifier_url: str | None = None
    verifier_timeout_s: float = Field(default=10.0, gt=0)
    expiry_interval_s: float = Field(default=0.5, gt=0)
    relay_interval_s: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _refuse_dev_verifier_in_production(self) -> ConsentSettings:
        """The development verifier accepts a fixed scan: never in production."""
        if self.environment == "production":
            if not self.verifier_url:
                raise ValueError("set HEALTHLINK_VERIFIER_URL in production")
            require_https("HEALTHLINK_VERIFIER_URL", self.verifier_url)
        return self
