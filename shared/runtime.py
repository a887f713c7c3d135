"""Plumbing every service's composition root wires the same way.

``Runtime`` holds the connections of one service instance; ``service_app`` builds
its FastAPI app whose lifespan creates the topics (``shared/kafka_topics.py``), connects
the database, starts the broker (and so the subscribers) and closes both on
shutdown. Every app also gets ``/healthz``, ``/readyz``, ``/metrics``, the operators'
``/admin`` router and the hospitals' own set-aside uploads (``hospital_letters.py``).
Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.admin import router as admin_router
from shared.broker import Publisher, make_broker, subscriber_options
from shared.consumer import BatchHandler, EventHandler, Guard, RawHandler, one_by_one
from shared.database import Document, make_client, ping
from shared.deadletter import DeadLetters, SourceMessage
from shared.hospital_letters import router as hospital_letters_router
from shared.http import health_routes, install_correlation, install_error_handlers
from shared.kafka_topics import ensure_topics
from shared.lifeline import Budget
from shared.limits import BodyLimit
from shared.logging import configure_logging, get_logger
from shared.metrics import Lags, Metrics, consumer_lags, install_http_metrics, metrics_route
from shared.settings import Settings
from shared.topics import named

Hook = Callable[[], Awaitable[None]]
Loop = Callable[[], Coroutine[Any, Any, None]]
log = get_logger(__name__)

BATCH_WAIT_MS = 100  # an idle batch consumer polls this often; records present return at once
# A service's shutdown, once its HTTP requests are done: see Runtime.shut_down and
# docs/operations.md ("Stopping"). healthlink serve ends the process 8 s after SIGTERM.
SHUTDOWN_S = 5.0
CLOSE_DB_S = 1.0


def every(period_s: float, step: Callable[[], Awaitable[object]], what: str) -> Loop:
    """A background loop: ``step`` now and every ``period_s``, at once again while it
    finds work (a truthy result); a failed round is logged and retried next time."""

    async def loop() -> None:
        while True:
            try:
                busy = await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background step failed", loop=what)
                busy = False
            if not busy:
                await asyncio.sleep(period_s)

    return loop


@dataclass
class Runtime:
    """One service instance's broker, publisher, dead letters and database."""

    settings: Settings
    service: str
    broker: KafkaBroker
    publisher: Publisher
    dead_letters: DeadLetters
    guard: Guard
    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    metrics: Metrics
    on_start: list[Hook] = field(default_factory=list)
    on_stop: list[Hook] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    routes: dict[str, RawHandler] = field(default_factory=dict)  # every consumed topic
    batches: dict[str, tuple[BatchHandler, int, int]] = field(default_factory=dict)
    subscriber: Any = None
    extra_subscribers: list[Any] = field(default_factory=list)
    delegated: set[str] = field(default_factory=set)  # consumed by another process
    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)  # extra readiness
    lag_reports: list[Callable[[], Lags]] = field(default_factory=list)  # from helpers
    replaying: bool = False  # run by ``healthlink replay``: no server, start what is needed

    def subscribe_events(self, topic: str, handler: EventHandler) -> None:
        """Consume CloudEvents from ``topic`` into ``handler``."""
        self.routes[named(topic, self.settings.topic_prefix)] = self.guard.event_handler(handler)

    def subscribe_raw(self, topic: str, handler: RawHandler) -> None:
        """Consume raw records from ``topic`` into ``handler``."""
        self.routes[named(topic, self.settings.topic_prefix)] = handler

    def subscribe_batch(
        self, topic: str, handler: BatchHandler, *, max_records: int, consumers: int = 1
    ) -> None:
        """Consume ``topic`` in batches: every record one poll returned, up to ``max_records``.

        The topic gets ``consumers`` consumers of its own in the service's group, each
        owning some of its partitions, so one batch can be validated while another
        waits on the database. A batch costs one round of look-ups, writes and
        publishes instead of one per record, and its offsets are committed only after
        every record in it was handled or set aside. Under light load a batch is one
        record: nothing waits to fill it. Each partition stays in order.
        """
        name = named(topic, self.settings.topic_prefix)
        self.routes[name] = one_by_one(handler)
        self.batches[name] = (handler, max_records, consumers)

    def register_consumer(self) -> None:
        """One consumer per service (group = service name) over all its topics."""
        opts = subscriber_options(self.settings, self.service)
        for topic, (handler, max_records, consumers) in self.batches.items():
            if topic in self.delegated:
                continue
            for _ in range(consumers):
                sub = self.broker.subscriber(  # type: ignore[call-overload]
                    topic,
                    batch=True,
                    max_records=max_records,
                    batch_timeout_ms=BATCH_WAIT_MS,
                    **opts,
                )
                sub(self.guard.batch(handler, self.routes[topic]))
                self.extra_subscribers.append(sub)
        skip = {*self.batches, *self.delegated}
        routes = {t: h for t, h in self.routes.items() if t not in skip}
        if not routes:
            return

        async def dispatch(source: SourceMessage) -> None:
            await routes[source.topic](source)

        dispatch.__name__ = f"on_{self.service}_events"
        self.subscriber = self.broker.subscriber(*routes, **opts)  # type: ignore[call-overload]
        self.subscriber(self.guard.raw(dispatch))

    def consumers(self) -> list[Any]:
        """The running aiokafka consumers of this instance (for lag and assignment)."""
        subscribers = [self.subscriber, *self.extra_subscribers]
        found = [getattr(sub, "consumer", None) for sub in subscribers]
        return [c for c in found if c is not None]

    async def lags(self) -> Lags:
        """Lag per partition: this instance's consumers and what helpers reported."""
        found = await consumer_lags(self.consumers())
        for report in self.lag_reports:
            found.update(report())
        return found

    @property
    def group_id(self) -> str:
        return str(subscriber_options(self.settings, self.service)["group_id"])

    def background(self, loop: Loop) -> None:
        """Run ``loop`` as a task while the service is up (after the broker started)."""
        self.loops.append(loop)

    def delegate(self, topic: str) -> None:
        """``topic`` (subscribed above) is consumed by another process of this service:
        no consumer here, but its handler stays listed, for ``healthlink replay``."""
        self.delegated.add(named(topic, self.settings.topic_prefix))

    async def readiness(self) -> dict[str, bool]:
        broker_ok = await self.broker.ping(timeout=2.0)
        checks = {"kafka": bool(broker_ok), "database": await ping(self.client)}
        checks.update({name: check() for name, check in self.checks.items()})
        return checks

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Topics ensured, start hooks run, consumers and background loops started;
        on exit all of it stopped in reverse and the database closed."""
        created = await ensure_topics(self.settings, self.service)
        if created:
            log.info("topics created", topics=created)
        for hook in self.on_start:
            await hook()
        await self.broker.start()
        self.tasks.extend(asyncio.create_task(loop()) for loop in self.loops)
        try:
            yield
        finally:
            await self.shut_down()

    async def shut_down(self) -> None:
        """Loops cancelled and consumers stopped side by side, then the stop hooks, then
        the database closed: each step within what is left of ``SHUTDOWN_S``, so a
        broker or database that is gone cannot hold the service up."""
        budget = Budget(SHUTDOWN_S)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(
            budget.run(asyncio.gather(*self.tasks, return_exceptions=True), "background loops"),
            budget.run(self.broker.stop(), "broker"),
        )
        for hook in self.on_stop:
            await budget.run(hook(), getattr(hook, "__qualname__", "stop hook"))
        # Closing ends the client's server sessions (a courtesy the server does not need):
        # with the database gone it would wait out server selection.
        await budget.run(self.client.close(), "database", cap=CLOSE_DB_S)


def make_runtime(settings: Settings, service: str) -> Runtime:
    broker = make_broker(settings, service)
    publisher = Publisher(broker, settings)
    metrics = Metrics(service, settings.topic_prefix)
    dead_letters = DeadLetters(publisher, service, settings.topic_prefix, metrics)
    client = make_client(settings)
    return Runtime(
        settings=settings,
        service=service,
        broker=broker,
        publisher=publisher,
        dead_letters=dead_letters,
        guard=Guard(dead_letters, settings.transient_retry_limit, metrics=metrics),
        client=client,
        db=client[settings.db_name(service)],
        metrics=metrics,
    )


def service_app(
    runtime: Runtime,
    title: str,
    description: str,
    *,
    larger_bodies: Mapping[str, int] | None = None,
) -> FastAPI:
    """The FastAPI app of a service, with its broker in the lifespan. Request bodies are
    limited to ``max_body_bytes`` before anything reads them (``shared.limits``);
    ``larger_bodies``: exact paths with a limit of their own."""
    configure_logging(runtime.service, runtime.settings.log_level)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            yield

    runtime.register_consumer()
    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.settings = runtime.settings
    install_error_handlers(app)
    install_correlation(app)
    install_http_metrics(app, runtime.metrics)
    app.add_middleware(
        BodyLimit, limit=runtime.settings.max_body_bytes, larger=larger_bodies
    )  # outermost: before any other middleware or handler touches the body
    health_routes(app, runtime.readiness)
    metrics_route(app, runtime.metrics, runtime.lags)
    app.include_router(admin_router)
    app.include_router(hospital_letters_router)
    return app
