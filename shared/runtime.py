"""Plumbing every service's composition root wires the same way.

``Runtime`` holds the connections of one service instance; ``service_app`` builds
its FastAPI app whose lifespan connects the database, starts the broker (and so
the subscribers) and closes both on shutdown. Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.broker import Publisher, make_broker, subscriber_options
from shared.consumer import EventHandler, Guard, RawHandler
from shared.database import Document, make_client, ping
from shared.deadletter import DeadLetters, SourceMessage
from shared.http import health_routes, install_correlation, install_error_handlers
from shared.logging import configure_logging
from shared.settings import Settings
from shared.topics import named

Hook = Callable[[], Awaitable[None]]
Loop = Callable[[], Coroutine[Any, Any, None]]


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
    on_start: list[Hook] = field(default_factory=list)
    on_stop: list[Hook] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    routes: dict[str, RawHandler] = field(default_factory=dict)

    def subscribe_events(self, topic: str, handler: EventHandler) -> None:
        """Consume CloudEvents from ``topic`` into ``handler``."""
        self.routes[named(topic, self.settings.topic_prefix)] = self.guard.event_handler(handler)

    def subscribe_raw(self, topic: str, handler: RawHandler) -> None:
        """Consume raw records (uploads) from ``topic`` into ``handler``."""
        self.routes[named(topic, self.settings.topic_prefix)] = handler

    def register_consumer(self) -> None:
        """One consumer per service (group = service name) over all its topics."""
        if not self.routes:
            return
        routes = dict(self.routes)

        async def dispatch(source: SourceMessage) -> None:
            await routes[source.topic](source)

        dispatch.__name__ = f"on_{self.service}_events"
        opts = subscriber_options(self.settings, self.service)
        self.broker.subscriber(*routes, **opts)(self.guard.raw(dispatch))  # type: ignore[call-overload]

    def background(self, loop: Loop) -> None:
        """Run ``loop`` as a task while the service is up (after the broker started)."""
        self.loops.append(loop)

    async def readiness(self) -> dict[str, bool]:
        broker_ok = await self.broker.ping(timeout=2.0)
        return {"kafka": bool(broker_ok), "database": await ping(self.client)}


def make_runtime(settings: Settings, service: str) -> Runtime:
    broker = make_broker(settings, service)
    publisher = Publisher(broker, settings)
    dead_letters = DeadLetters(publisher, service, settings.topic_prefix)
    client = make_client(settings)
    return Runtime(
        settings=settings,
        service=service,
        broker=broker,
        publisher=publisher,
        dead_letters=dead_letters,
        guard=Guard(dead_letters, settings.transient_retry_limit),
        client=client,
        db=client[settings.db_name(service)],
    )


def service_app(runtime: Runtime, title: str, description: str) -> FastAPI:
    """The FastAPI app of a service, with its broker in the lifespan."""
    configure_logging(runtime.service, runtime.settings.log_level)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for hook in runtime.on_start:
            await hook()
        await runtime.broker.start()
        runtime.tasks.extend(asyncio.create_task(loop()) for loop in runtime.loops)
        try:
            yield
        finally:
            for task in runtime.tasks:
                task.cancel()
            await asyncio.gather(*runtime.tasks, return_exceptions=True)
            await runtime.broker.stop()
            for hook in runtime.on_stop:
                await hook()
            await runtime.client.close()

    runtime.register_consumer()
    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    install_correlation(app)
    health_routes(app, runtime.readiness)
    return app
