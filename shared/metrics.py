"""Prometheus metrics of one service instance, served at ``/metrics``.

Each ``Metrics`` has its own registry (several apps may live in one test process).
Topic labels are the topic names without the deployment's prefix, so dashboards
read the same in every environment. Labels carry names and numbers only, never
patient data.

    healthlink_messages_consumed_total{service,topic}          every message handled
    healthlink_messages_failed_total{service,topic,kind}       rejected | transient | error
    healthlink_message_processing_seconds{service,topic}       handler time (histogram)
    healthlink_consumer_lag{service,topic,partition}           high watermark - position
    healthlink_consumer_assigned{service,topic,partition}      1 per partition this instance owns
    healthlink_dead_letters_total{service,topic,reason}        messages set aside
    healthlink_http_request_duration_seconds{service,method,route,status}
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import get_logger

log = get_logger(__name__)
Lags = dict[tuple[str, int], int | None]  # (topic as on the broker, partition): lag, if known

PROCESSING_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The counters, gauges and histograms of one service instance."""

    def __init__(self, service: str, topic_prefix: str = "") -> None:
        self.service = service
        self._prefix = topic_prefix
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.consumed = Counter(
            "healthlink_messages_consumed", "Messages handled, any outcome.",
            ["service", "topic"], registry=r,
        )  # fmt: skip
        self.failed = Counter(
            "healthlink_messages_failed", "Messages whose handler failed.",
            ["service", "topic", "kind"], registry=r,
        )  # fmt: skip
        self.processing = Histogram(
            "healthlink_message_processing_seconds", "Handler time per message.",
            ["service", "topic"], buckets=PROCESSING_BUCKETS, registry=r,
        )  # fmt: skip
        self.lag = Gauge(
            "healthlink_consumer_lag", "Messages not yet consumed (high watermark - position).",
            ["service", "topic", "partition"], registry=r,
        )  # fmt: skip
        self.assigned = Gauge(
            "healthlink_consumer_assigned", "1 for each partition this instance consumes.",
            ["service", "topic", "partition"], registry=r,
        )  # fmt: skip
        self.dead_letters = Counter(
            "healthlink_dead_letters", "Messages set aside on the dead-letter topic.",
            ["service", "topic", "reason"], registry=r,
        )  # fmt: skip
        self.http = Histogram(
            "healthlink_http_request_duration_seconds", "HTTP request latency.",
            ["service", "method", "route", "status"], buckets=HTTP_BUCKETS, registry=r,
        )  # fmt: skip

    def topic(self, name: str) -> str:
        return name.removeprefix(self._prefix)

    def observe_message(self, topic: str, seconds: float, failure: str | None) -> None:
        """One message handled in ``seconds``; ``failure`` names how it failed, if it did."""
        label = self.topic(topic)
        self.consumed.labels(self.service, label).inc()
        self.processing.labels(self.service, label).observe(seconds)
        if failure:
            self.failed.labels(self.service, label, failure).inc()

    def count_dead_letter(self, topic: str, reason: str) -> None:
        self.dead_letters.labels(self.service, self.topic(topic), reason).inc()

    def set_lags(self, lags: Lags) -> None:
        """Lag and assignment per partition this instance (or its helper process) owns."""
        self.lag.clear()
        self.assigned.clear()
        for (topic, partition), lag in sorted(lags.items()):
            labels = (self.service, self.topic(topic), str(partition))
            self.assigned.labels(*labels).set(1)
            if lag is not None:
                self.lag.labels(*labels).set(lag)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


async def consumer_lags(consumers: list[Any]) -> Lags:
    """High watermark - position of every partition assigned to the running consumers."""
    found: Lags = {}
    for consumer in consumers:
        for tp in sorted(consumer.assignment()):
            highwater = consumer.highwater(tp)
            found[(tp.topic, tp.partition)] = None
            if highwater is None:
                continue
            try:
                position = await consumer.position(tp)
            except Exception as exc:  # partition being revoked mid-scrape
                log.debug("no position for lag", error=type(exc).__name__)
                continue
            found[(tp.topic, tp.partition)] = max(0, highwater - position)
    return found


class HttpTimer:
    """Pure ASGI middleware timing every request, labelled by its route template (not the
    raw path); an exception out of the app counts as a 500. Pure ASGI for the reason
    ``shared.http.Correlation`` gives."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics = self.metrics
            metrics.http.labels(metrics.service, scope["method"], template, str(status)).observe(
                time.perf_counter() - start
            )


def install_http_metrics(app: FastAPI, metrics: Metrics) -> None:
    """Time every request (``HttpTimer``)."""
    app.add_middleware(HttpTimer, metrics=metrics)


def metrics_route(app: FastAPI, metrics: Metrics, lags: Callable[[], Awaitable[Lags]]) -> None:
    """``GET /metrics`` in the Prometheus text format."""

    @app.get("/metrics", include_in_schema=False)
    async def read_metrics() -> Response:
        metrics.set_lags(await lags())
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
