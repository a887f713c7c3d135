"""The operators' router every service mounts: one place for everything set aside.

    GET  /admin/deadletters              a page (filters: reason, service, topic, status;
                                         limit, cursor; docs/operations.md#dead-letters)
    GET  /admin/deadletters/{id}         one letter
    POST /admin/deadletters/retry        {"ids": [...]} | {"reason": "..."} | {"all": true}

Any service's admin API sees the dead letters of every service (they share one
topic), so operators need only one address; a retry goes through the service that owns
the letter's source topic (Kafka's ACLs let only it write there): another answers 403
naming the owner. Payloads are never shown: a preview gives the size and the FHIR
resourceType counts or the event type. Reads need an operator's or auditor's token, a
retry an operator's (``shared/operators.py``; without a token: 401, an auditor retrying:
403); each retry is an ``operator.acted`` security event under the operator's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from aiokafka.errors import TopicAuthorizationFailedError
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from shared import acl, topics
from shared.deadletter import RETRY_OF, DeadLetter, DeadLetters, describe
from shared.deadletter_cursor import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    check_limit,
    decode_cursor,
    encode_cursor,
)
from shared.deadletter_pages import RetryLog, read_after, read_page
from shared.deadletter_reader import LetterReader
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.kafka_client import OPERATOR
from shared.operators import ChangerDep, acted, operator_of
from shared.settings import Settings

Status = Literal["pending", "retried", "all"]


async def read_topic(settings: Settings, topic: str, principal: str = OPERATOR) -> list[Any]:
    """Every record now on ``topic`` (prefixed here), oldest first, without a group, read
    as ``principal`` (the command line's ``operator``, or the service serving the API)."""
    return await read_after(settings, topic, principal, {})


def _headers(record: Any) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in record.headers}


def matcher(
    retried: dict[str, str], reason: str, service: str, topic: str, status: Status
) -> Callable[[DeadLetter], bool]:
    """The listing's filters as one predicate (``retried``: the retried letters' ids)."""

    def keep(letter: DeadLetter) -> bool:
        is_retried = letter.id in retried
        return (
            (not reason or letter.reason == reason)
            and (not service or letter.service == service)
            and (not topic or letter.source.topic == topic)
            and not (status == "pending" and is_retried)
            and not (status == "retried" and not is_retried)
        )

    return keep


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
        keep = matcher(self.retried, reason, service, topic, status)
        return [x for x in self.letters if (not wanted or x.id in wanted) and keep(x)]

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


def owners_message(service: str, foreign: dict[str, int]) -> str:
    """Which service owns each topic ``service`` may not write, and where to retry."""
    parts = []
    for topic, count in sorted(foreign.items()):
        owner = " or ".join(acl.writers_of(topic)) or "no service"
        parts.append(f"{topic} ({count} letter(s); written by {owner})")
    return (
        f"the {service} service may not write " + ", ".join(parts) + ": retry through the"
        " owning service's operator API (POST /admin/deadletters/retry there; `healthlink"
        " dlq retry --url <its URL>`), or narrow the selection with `topic`"
    )


def refuse_foreign(service: str, letters: Iterable[DeadLetter]) -> None:
    """``Forbidden`` naming the owners when ``service`` may not write a letter's topic
    (shared/acl.py), before anything is sent."""
    foreign: dict[str, int] = {}
    for letter in letters:
        if service not in acl.writers_of(letter.source.topic):
            foreign[letter.source.topic] = foreign.get(letter.source.topic, 0) + 1
    if foreign:
        raise Forbidden(owners_message(service, foreign))


async def retry_letters(
    dead_letters: DeadLetters, letters: Iterable[DeadLetter], by: str = "operator"
) -> list[str]:
    """Send each letter back to its source topic; returns their ids. The broker refusing
    a topic (Kafka's ACLs) is ``Forbidden`` naming the topic's owner. ``by``: who asked."""
    done: list[str] = []
    for letter in letters:
        try:
            await dead_letters.retry(letter, by)
        except TopicAuthorizationFailedError as exc:
            detail = owners_message(dead_letters.service, {letter.source.topic: 1})
            if dead_letters.service in acl.writers_of(letter.source.topic):
                detail += " (the broker's ACLs lag shared/acl.py: run healthlink kafka apply-acls)"
            sent = f" ({len(done)} letter(s) were retried before)" if done else ""
            raise Forbidden(f"Kafka refused: {detail}{sent}") from exc
        done.append(letter.id)
    return done


class RetryRequest(BaseModel):
    """Which letters to retry: some ids, every one with a reason, or all."""

    ids: list[str] = Field(default_factory=list, max_length=10_000)
    reason: str = ""
    all: bool = False
    topic: str = Field("", description="only letters from this source topic")
    include_retried: bool = Field(False, description="also letters already retried")


router = APIRouter(prefix="/admin", tags=["operations"], dependencies=[Depends(operator_of)])


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


def _service(request: Request) -> str:
    return str(request.app.state.runtime.service)


async def _book(request: Request) -> DeadLetterBook:
    """The dead letters, read as the service serving the request (its own principal)."""
    return await read_book(_settings(request), _service(request))


def page_reader(request: Request) -> LetterReader:
    """This process's dead-letter consumer, kept between pages, stopped with the service."""
    state = request.app.state
    reader: LetterReader | None = getattr(state, "dead_letter_reader", None)
    if reader is None:
        reader = state.dead_letter_reader = LetterReader(_settings(request), _service(request))
        state.runtime.on_stop.append(reader.close)
    return reader


def retry_log(request: Request) -> RetryLog:
    """This process's retry log (it reads only what is new at each listing)."""
    log: RetryLog | None = getattr(request.app.state, "dead_letter_retries", None)
    if log is None:
        log = request.app.state.dead_letter_retries = RetryLog()
    return log


@router.get("/deadletters")
async def read_dead_letters(
    request: Request,
    reason: str = "",
    service: str = "",
    topic: str = "",
    status: Status = "all",
    limit: Annotated[int, Query(description=f"1 to {MAX_LIMIT}")] = DEFAULT_LIMIT,
    cursor: Annotated[str, Query(description="the `cursor` of the page before")] = "",
) -> dict[str, Any]:
    """A page of what any service set aside, oldest first; ``next`` links the page after.

    Counts by reason are this page's; ``records_on_topic`` is the dead-letter topic's
    size (all letters, unfiltered; a letter set aside twice counts twice)."""
    check_limit(limit)
    positions = decode_cursor(cursor) if cursor else {}
    log = retry_log(request)
    retried = log.retried  # caught up by read_page before it filters
    keep = matcher(retried, reason, service, topic, status)
    page = await read_page(page_reader(request), positions, limit, keep, log)
    by_reason: dict[str, int] = {}
    for letter in page.letters:
        by_reason[letter.reason] = by_reason.get(letter.reason, 0) + 1
    token = encode_cursor(page.positions)
    query = {"reason": reason, "service": service, "topic": topic, "status": status}
    chosen = {k: v for k, v in query.items() if v and v != "all"}
    return {
        "count": len(page.letters),
        "by_reason": by_reason,
        "records_on_topic": page.records_on_topic,
        "scanned": page.scanned,
        "entries": [describe(letter, retried.get(letter.id)) for letter in page.letters],
        "cursor": token,
        "next": (
            "/admin/deadletters?" + urlencode({**chosen, "limit": limit, "cursor": token})
            if page.more
            else None
        ),
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
async def create_retry(request: Request, body: RetryRequest, me: ChangerDep) -> dict[str, Any]:
    """Send dead letters back to their source topic (handlers are idempotent), through
    the service that owns the topic; another service answers 403 naming the owner
    (operators; auditors: 403)."""
    if not (body.ids or body.reason or body.all):
        raise InvalidInput("name ids, a reason, or all")
    book = await _book(request)
    status: Status = "all" if body.include_retried or body.ids else "pending"
    chosen = book.select(ids=body.ids, reason=body.reason, topic=body.topic, status=status)
    if body.ids and not chosen:
        raise NotFound("no dead letter with these ids")
    refuse_foreign(_service(request), chosen)
    try:
        done = await retry_letters(request.app.state.runtime.dead_letters, chosen)
    finally:
        if chosen:
            await acted(request, me, "deadletter.retried", _selection(body), {
                "letters": str(len(chosen)), "ids": ",".join(x.id for x in chosen)[:1000]
            })  # fmt: skip
    return {"retried": len(done), "ids": done}


def _selection(body: RetryRequest) -> str:
    """What the operator asked to retry, as the event's target."""
    if body.ids:
        return "ids:" + ",".join(body.ids)[:190]
    return f"reason:{body.reason}" if body.reason else "all"
