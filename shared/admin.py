"""The operators' router every service mounts: one place for everything set aside.

    GET  /admin/deadletters              list (filters: reason, service, topic, status)
    GET  /admin/deadletters/{id}         one letter
    POST /admin/deadletters/retry        {"ids": [...]} | {"reason": "..."} | {"all": true}

Any service's admin API sees the dead letters of every service (they share one
topic), so operators need only one address. Payloads are never shown: a preview
gives the size and the FHIR resourceType counts or the event type. Requests need
the operator's bearer token (``HEALTHLINK_ADMIN_TOKEN``); without it: 401.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from shared import topics
from shared.deadletter import RETRY_OF, DeadLetter, DeadLetters, describe
from shared.errors import InvalidInput, NotFound
from shared.http import require_operator
from shared.kafka_client import OPERATOR, client_options
from shared.settings import Settings

Status = Literal["pending", "retried", "all"]


async def partitions_of(
    settings: Settings, names: list[str], principal: str = OPERATOR
) -> list[TopicPartition]:
    """The partitions of the existing topics among ``names`` (full names, as on the broker)."""
    admin = AIOKafkaAdminClient(**client_options(settings, principal))
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if t["error_code"] == 0
        for p in sorted(t["partitions"], key=lambda p: int(p["partition"]))
    ]


async def read_topic(
    settings: Settings, topic: str, timeout_s: float = 5.0, principal: str = OPERATOR
) -> list[Any]:
    """Every record now on ``topic`` (prefixed here), oldest first, without a group, read
    as ``principal`` (the command line's ``operator``, or the service serving the API)."""
    name = topics.named(topic, settings.topic_prefix)
    tps = await partitions_of(settings, [name], principal)
    if not tps:
        return []
    consumer = AIOKafkaConsumer(
        **client_options(settings, principal), enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=int(timeout_s * 1000))
            if not batch:
                break
            for tp, records in batch.items():
                found.extend(r for r in records if r.offset < ends[tp])
    finally:
        await consumer.stop()
    found.sort(key=lambda r: (r.timestamp, r.partition, r.offset))
    return found


def _headers(record: Any) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in record.headers}


@dataclass
class DeadLetterBook:
    """The dead letters on the topic and which of them were retried (and when)."""

    letters: list[DeadLetter] = field(default_factory=list)
    retried: dict[str, str] = field(default_factory=dict)

    def select(
        self,
        *,
        ids: Iterable[str] = (),
        reason: str = "",
        service: str = "",
        topic: str = "",
        status: Status = "all",
    ) -> list[DeadLetter]:
        wanted = set(ids)
        chosen = []
        for letter in self.letters:
            if wanted and letter.id not in wanted:
                continue
            if reason and letter.reason != reason:
                continue
            if service and letter.service != service:
                continue
            if topic and letter.source.topic != topic:
                continue
            is_retried = letter.id in self.retried
            if (status == "pending" and is_retried) or (status == "retried" and not is_retried):
                continue
            chosen.append(letter)
        return chosen

    def show(self, letter: DeadLetter) -> dict[str, Any]:
        return describe(letter, self.retried.get(letter.id))


async def read_book(settings: Settings, principal: str = OPERATOR) -> DeadLetterBook:
    book = DeadLetterBook()
    seen: set[str] = set()
    for r in await read_topic(settings, topics.DEAD_LETTERS, principal=principal):
        letter = DeadLetter.from_record(r.key, r.value or b"", _headers(r))
        if letter.id in seen:
            continue  # the same record set aside again after a redelivery
        seen.add(letter.id)
        book.letters.append(letter)
    for r in await read_topic(settings, topics.DEAD_LETTER_RETRIES, principal=principal):
        headers = _headers(r)
        if headers.get(RETRY_OF):
            book.retried[headers[RETRY_OF]] = headers.get("hl-dlq-time", "")
    return book


async def retry_letters(dead_letters: DeadLetters, letters: Iterable[DeadLetter]) -> list[str]:
    """Send each letter back to its source topic; returns their ids."""
    done = []
    for letter in letters:
        await dead_letters.retry(letter)
        done.append(letter.id)
    return done


class RetryRequest(BaseModel):
    """Which letters to retry: some ids, every one with a reason, or all."""

    ids: list[str] = Field(default_factory=list, max_length=10_000)
    reason: str = ""
    all: bool = False
    include_retried: bool = Field(False, description="also letters already retried")


router = APIRouter(prefix="/admin", tags=["operations"], dependencies=[Depends(require_operator)])


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


async def _book(request: Request) -> DeadLetterBook:
    """The dead letters, read as the service serving the request (its own principal)."""
    return await read_book(_settings(request), str(request.app.state.runtime.service))


@router.get("/deadletters")
async def read_dead_letters(
    request: Request,
    reason: str = "",
    service: str = "",
    topic: str = "",
    status: Status = "all",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Everything set aside by any service, newest last, with counts by reason."""
    book = await _book(request)
    chosen = book.select(reason=reason, service=service, topic=topic, status=status)
    by_reason: dict[str, int] = {}
    for letter in chosen:
        by_reason[letter.reason] = by_reason.get(letter.reason, 0) + 1
    return {
        "total": len(chosen),
        "by_reason": by_reason,
        "entries": [book.show(letter) for letter in chosen[-limit:]],
    }


@router.get("/deadletters/{letter_id}")
async def read_dead_letter(request: Request, letter_id: str) -> dict[str, Any]:
    """One dead letter: reason, detail, source, safe headers and a payload preview."""
    book = await _book(request)
    found = book.select(ids=[letter_id])
    if not found:
        raise NotFound(f"no dead letter {letter_id}")
    return book.show(found[0])


@router.post("/deadletters/retry")
async def create_retry(request: Request, body: RetryRequest) -> dict[str, Any]:
    """Send dead letters back to their source topic (handlers are idempotent)."""
    if not (body.ids or body.reason or body.all):
        raise InvalidInput("name ids, a reason, or all")
    book = await _book(request)
    status: Status = "all" if body.include_retried or body.ids else "pending"
    chosen = book.select(ids=body.ids, reason=body.reason, status=status)
    if body.ids and not chosen:
        raise NotFound("no dead letter with these ids")
    done = await retry_letters(request.app.state.runtime.dead_letters, chosen)
    return {"retried": len(done), "ids": done}
