"""The Kafka edge of every service: one guard around every handler.

- A message that can never be processed (``Rejected``, an unreadable envelope) is
  set aside on the dead-letter topic with its reason, then committed: the partition
  moves on and nothing is lost.
- A ``Transient`` failure (broker or database away) is raised after a short
  back-off: the offset is not committed, the consumer seeks back and tries again.
- Any other exception is retried ``transient_retry_limit`` times, then set aside
  with reason ``handler-failed``, so no poison message blocks a partition forever.

A batch handler (hot topics: uploads, records received) takes every record one
poll returned and answers one outcome per record. Rejected records are set aside;
a record that failed otherwise, or a batch that failed as a whole, goes through
the one-record path above, so a poison record is isolated and set aside alone.
The batch is committed only once every record in it ended handled or set aside.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiokafka.errors import KafkaError
from faststream.kafka import KafkaMessage
from pydantic import ValidationError
from pymongo.errors import AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError

from shared.broker import readable_header
from shared.deadletter import DeadLetters, SourceMessage
from shared.errors import Rejected, Transient
from shared.events import Envelope
from shared.logging import CORRELATION_HEADER, get_logger, new_correlation_id, set_correlation_id

if TYPE_CHECKING:
    from shared.metrics import Metrics

log = get_logger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    Transient,
    ConnectionFailure,
    AutoReconnect,
    ServerSelectionTimeoutError,
    KafkaError,
    OSError,
    TimeoutError,
)

RawHandler = Callable[[SourceMessage], Awaitable[None]]
EventHandler = Callable[[Envelope], Awaitable[None]]
# One outcome per record, in order: None (handled) or the exception it ended with.
Outcomes = list[BaseException | None]
BatchHandler = Callable[[list[SourceMessage]], Awaitable[Outcomes]]


def source_of(msg: KafkaMessage) -> SourceMessage:
    """The consumed record as a ``SourceMessage`` (topic, offset, key, bytes, headers)."""
    return source_of_record(msg.raw_message)


def source_of_record(record: Any) -> SourceMessage:
    """An aiokafka ``ConsumerRecord`` as a ``SourceMessage``."""
    headers = {k: readable_header(v).decode() for k, v in record.headers}
    return SourceMessage(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value or b"",
        headers=headers,
    )


def parse_envelope(source: SourceMessage) -> Envelope:
    """Read a CloudEvents envelope, or raise ``Rejected`` with reason ``malformed-event``."""
    try:
        return Envelope.model_validate_json(source.value)
    except ValidationError as exc:
        raise Rejected(
            f"not a valid event envelope: {exc.error_count()} errors", code="malformed-event"
        ) from exc


def envelopes(sources: list[SourceMessage]) -> tuple[Outcomes, list[tuple[int, Envelope]]]:
    """A batch's outcomes so far (unreadable records ``Rejected``) and its readable events."""
    outcomes: Outcomes = [None] * len(sources)
    events = []
    for index, source in enumerate(sources):
        try:
            events.append((index, parse_envelope(source)))
        except Rejected as exc:
            outcomes[index] = exc
    return outcomes, events


def one_by_one(handler: BatchHandler) -> RawHandler:
    """The one-record form of a batch handler (replay, and the Guard's fallback)."""

    async def single(source: SourceMessage) -> None:
        (outcome,) = await handler([source])
        if outcome is not None:
            raise outcome

    single.__name__ = getattr(handler, "__name__", "single")
    return single


class Guard:
    """Wraps handlers so each message ends committed, dead-lettered or retried."""

    def __init__(
        self,
        dead_letters: DeadLetters,
        retry_limit: int,
        backoff_s: float = 0.5,
        metrics: Metrics | None = None,
    ) -> None:
        self._dead_letters = dead_letters
        self._retry_limit = retry_limit
        self._backoff_s = backoff_s
        self._metrics = metrics
        self._attempts: dict[tuple[str, int, int], int] = {}

    def raw(self, handler: RawHandler) -> Callable[[KafkaMessage], Awaitable[None]]:
        async def consume(msg: KafkaMessage) -> None:
            await self.run(source_of(msg), handler)

        consume.__name__ = getattr(handler, "__name__", "consume")
        return consume

    def batch(
        self, handler: BatchHandler, single: RawHandler
    ) -> Callable[[KafkaMessage], Awaitable[None]]:
        """A FastStream batch subscriber's handler (``raw_message`` is a tuple of records)."""

        async def consume(msg: KafkaMessage) -> None:
            await self.run_batch([source_of_record(r) for r in msg.raw_message], handler, single)

        consume.__name__ = getattr(handler, "__name__", "consume_batch")
        return consume

    @staticmethod
    def event_handler(handler: EventHandler) -> RawHandler:
        """A raw handler that reads the envelope first (unreadable -> dead letter)."""

        async def handle(source: SourceMessage) -> None:
            await handler(parse_envelope(source))

        return handle

    async def run(self, source: SourceMessage, handler: RawHandler) -> None:
        """Handle one message: it ends handled, set aside, or raised for redelivery."""
        start = time.perf_counter()
        failure: str | None = "error"
        try:
            failure = await self._run(source, handler)
        except TRANSIENT_ERRORS:
            failure = "transient"
            raise
        finally:
            if self._metrics is not None:
                self._metrics.observe_message(source.topic, time.perf_counter() - start, failure)

    async def run_batch(
        self, sources: list[SourceMessage], handler: BatchHandler, single: RawHandler
    ) -> None:
        """Handle a batch; raises (whole batch redelivered) only as ``run`` would for one."""
        if not sources:
            return
        start = time.perf_counter()
        try:
            outcomes = await handler(sources)
        except TRANSIENT_ERRORS as exc:
            log.warning("transient failure in batch, will retry", error=type(exc).__name__)
            await asyncio.sleep(self._backoff_s)
            raise
        except Exception:
            log.exception("batch failed, handling its records one by one", records=len(sources))
            outcomes = [RuntimeError("batch failed")] * len(sources)
        if len(outcomes) != len(sources):
            raise RuntimeError("batch handler must answer one outcome per record")
        elapsed = time.perf_counter() - start
        rejected = []
        for source, outcome in zip(sources, outcomes, strict=True):
            if outcome is None:
                if self._metrics is not None:
                    self._metrics.observe_message(source.topic, elapsed, None)
            elif isinstance(outcome, Rejected):
                rejected.append((source, outcome))
            else:  # one record at a time: retried, or set aside as handler-failed
                await self.run(source, single)
        # Set aside last: a redelivery forced above would otherwise set these aside twice.
        for source, refusal in rejected:
            set_correlation_id(source.headers.get(CORRELATION_HEADER) or new_correlation_id())
            await self._set_aside(source, refusal.code, refusal.detail)
            if self._metrics is not None:
                self._metrics.observe_message(source.topic, elapsed, "rejected")

    async def _run(self, source: SourceMessage, handler: RawHandler) -> str | None:
        set_correlation_id(source.headers.get(CORRELATION_HEADER) or new_correlation_id())
        where = (source.topic, source.partition, source.offset)
        try:
            await handler(source)
        except Rejected as exc:
            await self._set_aside(source, exc.code, exc.detail)
            return "rejected"
        except TRANSIENT_ERRORS as exc:
            log.warning(
                "transient failure, will retry",
                topic=source.topic,
                offset=source.offset,
                error=type(exc).__name__,
            )
            await asyncio.sleep(self._backoff_s)
            raise
        except Exception as exc:
            attempts = self._attempts.get(where, 0) + 1
            self._attempts[where] = attempts
            if attempts < self._retry_limit:
                log.exception(
                    "handler failed, will retry",
                    topic=source.topic,
                    offset=source.offset,
                    attempt=attempts,
                )
                await asyncio.sleep(self._backoff_s * attempts)
                raise
            await self._set_aside(
                source, "handler-failed", f"{type(exc).__name__} after {attempts} attempts"
            )
            self._attempts.pop(where, None)
            return "error"
        self._attempts.pop(where, None)
        return None

    async def _set_aside(self, source: SourceMessage, reason: str, detail: str) -> None:
        log.warning(
            "message set aside",
            topic=source.topic,
            partition=source.partition,
            offset=source.offset,
            reason=reason,
        )
        await self._dead_letters.set_aside(source, reason, detail)
