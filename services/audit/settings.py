"""The audit service's settings: the shared ones (it has none of its own yet)."""

from __future__ import annotations

from shared.settings import Settings


class AuditSettings(Settings):
    """What the audit service reads from the environment (``HEALTHLINK_`` prefix)."""
