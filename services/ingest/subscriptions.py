"""Data requests by FHIR Subscription: a hospital's registration, read from and written as
a FHIR R4 ``Subscription`` with the Subscriptions R5 Backport IG's R4 conventions.

A hospital with no Kafka client names an https endpoint; ingest POSTs a notification
there for each ``data.requested`` addressed to it (``notifications.py`` builds it,
``delivery.py`` sends it). What a registration must say:

- ``criteria``: the platform's one topic, ``TOPIC_URL`` (the backport puts a topic's
  canonical URL there);
- ``channel.type`` ``rest-hook``, ``channel.endpoint`` an https URL (``http://`` only to
  the loopback host, and only in development and test);
- ``channel.payload`` ``application/fhir+json`` (or absent), with the backport's
  payload-content extension ``id-only`` (the default) or ``full-resource``;
- ``channel.header``: up to ``MAX_HEADERS`` ``Name: value`` lines sent with every
  notification (the hospital's own credential for its endpoint; never shown back).

One subscription per hospital (stored under its code, ``subscriptionstore.py``).
Accepted registrations are ``active`` at once (``requested`` in, ``active`` out).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx

from shared.errors import InvalidInput
from shared.fhir import FHIR_JSON

BASE = "https://healthlink.example/fhir"
TOPIC_URL = f"{BASE}/SubscriptionTopic/data-request"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
PAYLOAD_CONTENT = f"{BACKPORT}/backport-payload-content"
SUBSCRIPTION_PROFILE = f"{BACKPORT}/backport-subscription"
MAX_HEADERS = 5
MAX_HEADER_CHARS = 4096
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
HEADER_LINE = re.compile(r"^([A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}):[ \t]*([\x20-\x7e]+)$")
RESERVED_HEADERS = {"content-type", "content-length", "host", "transfer-encoding"}

Content = Literal["id-only", "full-resource"]
CONTENTS: tuple[Content, ...] = ("id-only", "full-resource")
Environment = Literal["development", "test", "production"]


@dataclass(frozen=True)
class Subscription:
    """A hospital's data-request subscription, as kept."""

    id: str
    hospital: str
    endpoint: str
    content: Content
    start: datetime  # requests made since this moment are notified
    headers: tuple[str, ...] = field(default=(), repr=False)  # the hospital's secrets
    status: str = "active"
    reason: str = ""


def new_id() -> str:
    return f"sub-{secrets.token_hex(8)}"


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must be a JSON object")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{where} is required")
    return value.strip()


def internal_address(host: str) -> bool:
    """An IP literal the platform's own network uses (loopback, private, link-local...)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: resolved when sending (not checked here)
    return not address.is_global


def check_endpoint(endpoint: str, environment: Environment) -> str:
    """An https URL with a host (not an internal IP address); ``http://`` to the loopback
    host outside production."""
    try:
        url = httpx.URL(endpoint)
    except (httpx.InvalidURL, TypeError):
        raise InvalidInput("Subscription.channel.endpoint is not a URL") from None
    if not url.host or url.userinfo:
        raise InvalidInput("Subscription.channel.endpoint must be an absolute URL with a host")
    if url.scheme == "https" and internal_address(url.host) and environment == "production":
        raise InvalidInput("Subscription.channel.endpoint must be a public address")
    if url.scheme == "https":
        return endpoint
    if url.scheme == "http" and url.host in LOOPBACK and environment != "production":
        return endpoint  # a hospital's system under test, on this machine
    raise InvalidInput("Subscription.channel.endpoint must be an https URL")


def check_headers(value: Any) -> tuple[str, ...]:
    """``Name: value`` lines (at most ``MAX_HEADERS``; not the ones the platform sets)."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_HEADERS:
        raise InvalidInput(f"Subscription.channel.header: a list of at most {MAX_HEADERS}")
    lines = []
    for line in value:
        found = HEADER_LINE.match(line) if isinstance(line, str) else None
        if found is None or len(line) > MAX_HEADER_CHARS:
            raise InvalidInput("Subscription.channel.header: each entry is 'Name: value'")
        if found.group(1).lower() in RESERVED_HEADERS:
            raise InvalidInput(f"Subscription.channel.header: {found.group(1)} is the platform's")
        lines.append(line)
    return tuple(lines)


def check_content(channel: dict[str, Any]) -> Content:
    """The payload's MIME type (FHIR JSON) and its content (the backport's extension)."""
    payload = channel.get("payload")
    if payload is not None and payload != FHIR_JSON:
        raise InvalidInput(f"Subscription.channel.payload must be {FHIR_JSON}")
    extensions = channel.get("_payload", {}) or {}
    chosen: Content = "id-only"
    for ext in _object(extensions, "Subscription.channel._payload").get("extension", []) or []:
        if isinstance(ext, dict) and ext.get("url") == PAYLOAD_CONTENT:
            code = ext.get("valueCode")
            if code not in CONTENTS:
                raise InvalidInput(f"payload content must be one of {', '.join(CONTENTS)}")
            chosen = code
    return chosen


def parse_subscription(
    body: Any, hospital: str, environment: Environment, now: datetime
) -> Subscription:
    """The registration ``body`` says, checked; ``InvalidInput`` (400) naming what is wrong."""
    resource = _object(body, "the body")
    if resource.get("resourceType") != "Subscription":
        raise InvalidInput("the body must be a FHIR Subscription")
    if resource.get("status") not in ("requested", "active"):
        raise InvalidInput("Subscription.status must be 'requested'")
    criteria = _text(resource.get("criteria"), "Subscription.criteria")
    if criteria != TOPIC_URL:
        raise InvalidInput(f"unknown topic {criteria[:200]!r}; the one topic is {TOPIC_URL}")
    channel = _object(resource.get("channel"), "Subscription.channel")
    if channel.get("type") != "rest-hook":
        raise InvalidInput("Subscription.channel.type must be 'rest-hook'")
    endpoint = _text(channel.get("endpoint"), "Subscription.channel.endpoint")
    return Subscription(
        id=new_id(),
        hospital=hospital,
        endpoint=check_endpoint(endpoint, environment),
        content=check_content(channel),
        start=now.replace(microsecond=now.microsecond // 1000 * 1000),  # as BSON keeps it
        headers=check_headers(channel.get("header")),
        reason=str(resource.get("reason") or "")[:500],
    )


def header_pairs(subscription: Subscription) -> dict[str, str]:
    """The channel's headers as a mapping, to send."""
    pairs = {}
    for line in subscription.headers:
        name, _, value = line.partition(":")
        pairs[name.strip()] = value.strip()
    return pairs


def as_fhir(subscription: Subscription) -> dict[str, Any]:
    """The FHIR R4 Subscription (the channel's header values withheld: they are secrets)."""
    channel: dict[str, Any] = {
        "type": "rest-hook",
        "endpoint": subscription.endpoint,
        "payload": FHIR_JSON,
        "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": subscription.content}]},
    }
    if subscription.headers:
        channel["header"] = [f"{line.partition(':')[0]}: ***" for line in subscription.headers]
    return {
        "resourceType": "Subscription",
        "id": subscription.id,
        "meta": {"profile": [SUBSCRIPTION_PROFILE]},
        "status": subscription.status,
        "reason": subscription.reason or f"data requests for hospital {subscription.hospital}",
        "criteria": TOPIC_URL,
        "channel": channel,
    }
