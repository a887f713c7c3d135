"""The portal consumes no events: it reads through the query service's API, which
decides every read (consent, roster, break-glass) and audits it. Nothing to subscribe."""

from __future__ import annotations

SUBSCRIPTIONS: tuple[str, ...] = ()
