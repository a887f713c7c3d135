"""Notify errors, each mapped to its HTTP status by the shared error map.

NotFound    NotificationNotFound, WebhookNotConfigured, NotSetAside
"""

from __future__ import annotations

from shared.errors import NotFound


class NotificationNotFound(NotFound):
    """No notification with this id in this patient's inbox."""

    code = "notification-not-found"

    def __init__(self) -> None:
        super().__init__("no such notification")


class WebhookNotConfigured(NotFound):
    """The operator asked about webhook deliveries, but no webhook is configured."""

    code = "webhook-not-configured"

    def __init__(self) -> None:
        super().__init__("no webhook is configured")


class NotSetAside(NotFound):
    """No set-aside webhook delivery with this id (never queued, pending or delivered)."""

    code = "not-set-aside"

    def __init__(self) -> None:
        super().__init__("no such set-aside notification")
