"""Pure parts of the operator view: a hospital, a dead letter and a service's key
metrics as the page shows them (docs/portal.md#the-operator-view)."""

from __future__ import annotations

import math
import re
from typing import Any

from shared import acl

LAG = "healthlink_consumer_lag"
TOPIC = re.compile(r'topic="([^"]*)"')
HOSPITAL_FIELDS = ("code", "name", "role", "consent_mode", "active")
LETTER_FIELDS = ("id", "reason", "detail", "service", "time", "status", "retried_at")
# The metric families the status screen sums per service (docs/operations.md#metrics).
KEY_METRICS = {
    "healthlink_consumer_lag": "lag",
    "healthlink_dead_letters_total": "dead_letters",
    "healthlink_messages_failed_total": "failed",
    "healthlink_messages_consumed_total": "consumed",
}


def hospital_view(state: dict[str, Any]) -> dict[str, Any]:
    """A hospital without its version or history (and never its credentials): its
    upload signing keys by kid and algorithm only (consent keeps no time of adding)."""
    view = {name: state.get(name) for name in HOSPITAL_FIELDS}
    view["active"] = state.get("active", True) is not False
    keys = state.get("signing_keys") or []
    view["signing_keys"] = [
        {"kid": str(k.get("kid")), "alg": str(k.get("alg") or "ES256")}
        for k in keys
        if isinstance(k, dict) and k.get("kid")
    ]
    return view


def retry_owner(topic: str, services: tuple[str, ...]) -> str | None:
    """The service that may send a letter back to ``topic`` (shared/acl.py), if any."""
    owners = [name for name in acl.writers_of(topic) if name in services]
    return owners[0] if owners else None


def letter_view(entry: dict[str, Any], services: tuple[str, ...]) -> dict[str, Any]:
    """A dead letter as the operator view shows it: why, when, where from, what it held
    (sizes and types, never content) and which service may retry it."""
    view = {name: entry.get(name) for name in LETTER_FIELDS}
    source = entry.get("source") or {}
    preview = entry.get("preview") or {}
    topic = str(source.get("topic") or "")
    view["topic"] = topic
    view["bytes"] = preview.get("bytes")
    view["kind"] = preview.get("kind")
    view["event_type"] = preview.get("event_type")
    view["resource_types"] = preview.get("resource_types") or {}
    view["retry_via"] = retry_owner(topic, services) if topic else None
    return view


def key_metrics(text: str) -> dict[str, float]:
    """The sums of ``KEY_METRICS`` in a Prometheus text exposition (labels summed)."""
    sums = dict.fromkeys(KEY_METRICS.values(), 0.0)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        key = KEY_METRICS.get(name)
        if key is None:
            continue
        try:
            value = float(line.rsplit(" ", 1)[1])
        except (IndexError, ValueError):
            continue
        if math.isfinite(value):
            sums[key] += value
    return {name: round(value) for name, value in sums.items()}


def topic_lags(text: str) -> dict[str, int]:
    """Each topic's consumer lag (``healthlink_consumer_lag``: the high watermark less the
    consumer's position, summed over partitions), read-only: where a replay would start
    again is the CLI's (``healthlink replay``, docs/operations.md)."""
    lags: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(LAG + "{"):
            continue
        topic = TOPIC.search(line.split("}", 1)[0])
        try:
            value = float(line.rsplit(" ", 1)[1])
        except (IndexError, ValueError):
            continue
        if topic and math.isfinite(value):
            lags[topic.group(1)] = lags.get(topic.group(1), 0.0) + value
    return {topic: round(lag) for topic, lag in sorted(lags.items())}
