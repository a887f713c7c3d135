"""The notify service's settings: the shared ones, webhook delivery and the pace of its
background loops (``HEALTHLINK_`` prefix)."""

from __future__ import annotations

from pydantic import Field, model_validator

from shared.settings import Settings, require_https


class NotifySettings(Settings):
    """Webhook delivery to the wallet app, and how often the background loops look."""

    webhook_url: str | None = None
    webhook_max_attempts: int = Field(default=6, ge=1)
    webhook_backoff_s: float = Field(default=1.0, gt=0)
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    delivery_tick_s: float = Field(default=0.5, gt=0)
    schedule_tick_s: float = Field(default=10.0, gt=0)
    digest_tick_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _refuse_plain_http_webhook_in_production(self) -> NotifySettings:
        """Notifications name patients: in production they leave only over https."""
        if self.environment == "production" and self.webhook_url:  # empty: inbox only
            require_https("HEALTHLINK_WEBHOOK_URL", self.webhook_url)
        return self
