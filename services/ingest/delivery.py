"""Data requests delivered to subscribed hospitals (rest-hook), at least once.

Ingest reads every hospital's request topic (``healthlink.consent.datarequests.<code>``,
its prefixed read ACL) in a consumer group of its own (``ingest.subscriptions``,
shared/acl.py), through a Kafka client of its own whose metadata refreshes every
``METADATA_MAX_AGE_MS``: a hospital's topic made after the start is found in seconds.
Records come in batches (every record one poll returned, up to ``BATCH``): each hospital's
subscription is read once per batch, and the batch is committed once every record in it
was handled or set aside (``shared/consumer.py``). For each ``data.requested``, in order:

- no active subscription for the hospital, or a request made before the subscription
  started: nothing to send (the polling door serves every request);
- else the notification (``notifications.py``) is POSTed to the endpoint with the
  channel's headers, ``TIMEOUT_S`` per attempt, up to ``ATTEMPTS`` attempts with a
  doubling back-off; any 2xx is success and the offset is committed;
- still refused: ``Rejected`` (``subscription-undelivered``, with the last status or error),
  so the shared guard sets the record aside on the dead-letter topic and the partition
  moves on (never more than about ``ATTEMPTS`` x ``TIMEOUT_S`` + back-off). The hospital
  still finds the request by polling; an operator may retry the letter.
- for ``COOL_DOWN_S`` after that, the hospital's next requests are set aside at once
  (same reason, "not tried"), without waiting on its endpoint: one consumer reads every
  hospital's topic, and a burst of requests to a dead endpoint must not hold the others
  up for minutes. The first request after the cool-down tries again.

A record that is not a data request, or one addressed to another hospital than its
topic's, is set aside too. Nothing about the patient is logged (a request id names its
patient): the hospital, the subscription and the event number.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from healthlink_adapter.datarequests import parse_data_request

from services.ingest.notifications import notification
from services.ingest.subscriptions import Subscription, header_pairs
from services.ingest.subscriptionstore import Subscriptions
from shared.broker import make_broker, subscriber_options
from shared.consumer import Outcomes
from shared.deadletter import SourceMessage
from shared.errors import Rejected
from shared.fhir import FHIR_JSON
from shared.logging import get_logger
from shared.runtime import BATCH_WAIT_MS, Runtime
from shared.settings import Settings
from shared.topics import DATA_REQUESTS, named

log = get_logger(__name__)

GROUP = "ingest.subscriptions"  # its consumer group (shared/acl.py)
ATTEMPTS = 3
BACKOFF_S = 0.5
TIMEOUT_S = 3.0
METADATA_MAX_AGE_MS = 5_000
UNDELIVERED = "subscription-undelivered"
RESTART_S = 5.0
COOL_DOWN_S = 60.0
BATCH = 100  # records per batch at most (one poll's worth; one record when it is quiet)


def request_topics(prefix: str) -> str:
    """The pattern of every hospital's request topic (under this session's prefix); no
    ``{}``: FastStream reads them as path parameters."""
    return "^" + re.escape(named(DATA_REQUESTS, prefix) + ".") + "[0-9]" * 5 + "$"


def hospital_of(topic: str) -> str:
    """The hospital a request topic belongs to (its last dotted part, a 5-digit code)."""
    return topic.rsplit(".", 1)[-1]


class Delivery:
    """Sends each data request to its hospital's subscription (the record handler)."""

    def __init__(
        self,
        subscriptions: Subscriptions,
        client: httpx.AsyncClient,
        clock: Callable[[], datetime],
        *,
        attempts: int = ATTEMPTS,
        backoff_s: float = BACKOFF_S,
        cool_down_s: float = COOL_DOWN_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.subscriptions = subscriptions
        self.client = client
        self.clock = clock
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.cool_down_s = cool_down_s
        self.sleep = sleep
        self.failing: dict[str, datetime] = {}  # subscription -> until when it is not tried

    async def on_records(self, sources: list[SourceMessage]) -> Outcomes:
        """Every record one poll returned, in order: one outcome each (None: notified or
        nothing to send; ``Rejected``: set aside). Each hospital's subscription is read
        once per batch, not once per record: a patient's consent to 20 hospitals is 20
        requests, and their look-ups and per-record commits were most of ingest's CPU
        in a registration burst."""
        outcomes: Outcomes = [None] * len(sources)
        codes = sorted({hospital_of(source.topic) for source in sources})
        found = await asyncio.gather(*(self.subscriptions.of(code) for code in codes))
        held = dict(zip(codes, found, strict=True))
        for place, source in enumerate(sources):
            try:
                await self.deliver(source, held[hospital_of(source.topic)])
            except Rejected as exc:
                outcomes[place] = exc
        return outcomes

    async def on_record(self, source: SourceMessage) -> None:
        """One record of a hospital's request topic: notified, skipped, or ``Rejected``."""
        (outcome,) = await self.on_records([source])
        if outcome is not None:
            raise outcome

    async def deliver(self, source: SourceMessage, subscription: Subscription | None) -> None:
        """``source`` to ``subscription`` (its topic's hospital's), if it is due one."""
        request = parse_data_request(source.value)
        if request is None:
            raise Rejected("not a data request", code="malformed-event")
        code = hospital_of(source.topic)
        if request.hospital != code:
            wrong = f"a request for {request.hospital} on {code}'s topic"
            raise Rejected(wrong, code="misaddressed")
        if subscription is None or subscription.status != "active":
            return
        if request.time < subscription.start:
            return  # asked before the subscription: the polling door has it
        until = self.failing.get(subscription.id)  # a new subscription is tried at once
        if until is not None and self.clock() < until:
            raise Rejected(
                f"subscription {subscription.id}: its endpoint failed; "
                f"not tried until {until.isoformat()}",
                code=UNDELIVERED,
            )
        number = source.offset + 1
        await self.send(
            subscription, notification(subscription, request, number, self.clock()), number
        )

    async def send(self, subscription: Subscription, body: dict[str, Any], number: int) -> None:
        """POST ``body`` until a 2xx; ``Rejected`` after the last attempt. Logged by event
        number: a request id names its patient."""
        content = json.dumps(body).encode()
        headers = {**header_pairs(subscription), "content-type": FHIR_JSON}
        last = ""
        for attempt in range(self.attempts):
            if attempt:
                await self.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                answer = await self.client.post(
                    subscription.endpoint, content=content, headers=headers
                )
            except httpx.HTTPError as exc:
                last = type(exc).__name__
                continue
            if answer.is_success:
                self.failing.pop(subscription.id, None)
                log.info("data request notified", hospital=subscription.hospital,
                         subscription=subscription.id, event_number=number)  # fmt: skip
                return
            last = f"the endpoint answered {answer.status_code}"
        until = self.clock() + timedelta(seconds=self.cool_down_s)
        self.failing[subscription.id] = until
        log.warning("data request not notified", hospital=subscription.hospital,
                    subscription=subscription.id, event_number=number, error=last)  # fmt: skip
        raise Rejected(
            f"subscription {subscription.id}: not accepted after {self.attempts} attempts ({last})",
            code=UNDELIVERED,
        )


def deliver_requests(runtime: Runtime, settings: Settings, delivery: Delivery) -> None:
    """Consume the hospitals' request topics into ``delivery`` while the service runs
    (its own client and group; records set aside through the runtime's guard)."""
    broker = make_broker(settings, runtime.service, metadata_max_age_ms=METADATA_MAX_AGE_MS)
    options = {**subscriber_options(settings, runtime.service)}
    options["group_id"] = named(GROUP, settings.topic_prefix)
    subscriber = broker.subscriber(  # type: ignore[call-overload]
        pattern=request_topics(settings.topic_prefix),
        batch=True,
        max_records=BATCH,
        batch_timeout_ms=BATCH_WAIT_MS,
        **options,
    )
    subscriber(runtime.guard.batch(delivery.on_records, delivery.on_record))
    runtime.extra_subscribers.append(subscriber)  # its lag in /metrics and the status screen

    async def run() -> None:  # a background loop: starts after the runtime's broker
        while True:
            try:
                await broker.start()
                break
            except Exception as exc:  # the broker away at start: try again, keep serving
                log.error("subscription delivery not started", error=type(exc).__name__)
                await asyncio.sleep(RESTART_S)
        try:
            await asyncio.Event().wait()
        finally:
            await broker.stop()
            await delivery.client.aclose()

    runtime.background(run)
