"""Data requests over HTTP, for hospitals that upload over HTTP and run no Kafka client.

    GET /hospitals/{code}/data-requests?cursor=C&limit=N     (the hospital's admin key)

The consent service asks a hospital for a patient's records with a ``data.requested``
event on the hospital's own topic (``healthlink.consent.datarequests.<code>``); a
hospital on Kafka reads it with the adapter's ``DataRequestReader``. This door pages the
same topic for a hospital that polls: oldest first, each request in the shape the
adapter's ``DataRequest`` has, and a ``next`` cursor (the topic's next offsets, like the
dead-letter pages). The hospital keeps the cursor of what it has answered and asks
with it again, so delivery is at least once on this door too: answer idempotently
(an upload id derived from the request id). Ingest reads the topics with its own
principal (a prefixed read ACL, shared/acl.py) through one kept consumer
(``LetterReader``, the consumer the dead-letter pages keep).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from healthlink_adapter.datarequests import DataRequest, parse_data_request

from shared.deadletter_cursor import decode_cursor, encode_cursor
from shared.deadletter_pages import cached_partitions
from shared.deadletter_reader import LetterReader
from shared.errors import InvalidInput, Transient
from shared.topics import data_requests_topic

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
WAIT_MS = 2_000  # the longest one fetch waits for records the offsets say are there


@dataclass(frozen=True)
class RequestPage:
    requests: list[DataRequest]
    next: str | None  # where to ask next (None: no request was ever made of the hospital)
    more: bool = False  # the topic held more than the page when it was read


class RequestPages(Protocol):
    """Where the door reads a hospital's requests (Kafka; a fake in unit tests)."""

    async def page(self, code: str, cursor: str, limit: int) -> RequestPage: ...


class KafkaRequestPages:
    """Pages of the hospitals' request topics through one kept consumer (connects on
    first use, as the service's principal)."""

    def __init__(self, reader: LetterReader) -> None:
        self.reader = reader

    async def page(self, code: str, cursor: str, limit: int) -> RequestPage:
        try:
            return await read_requests(self.reader, code, cursor, limit)
        except KafkaError as exc:
            raise Transient("the broker did not answer; try again shortly") from exc

    async def close(self) -> None:
        await self.reader.close()


def public(page: RequestPage, code: str) -> dict[str, Any]:
    """The answer: the requests oldest first, where to ask next, whether more wait."""
    return {
        "hospital": code,
        "requests": [r.model_dump(mode="json") for r in page.requests],
        "next": page.next,
        "more": page.more,
    }


async def read_requests(reader: LetterReader, code: str, cursor: str, limit: int) -> RequestPage:
    """Up to ``limit`` of ``code``'s data requests after ``cursor`` (from the first kept)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    positions = decode_cursor(cursor) if cursor else {}
    settings = reader.settings
    name = data_requests_topic(code, settings.topic_prefix)
    tps = await cached_partitions(settings, name, reader.principal)
    unknown = set(positions) - {tp.partition for tp in tps}
    if unknown:
        raise InvalidInput(f"cursor: the hospital's request topic has no partition {min(unknown)}")
    if not tps:  # no request was ever made of this hospital
        return RequestPage([], cursor or None)
    async with reader.consumer() as consumer:
        return await _page(consumer, code, tps, positions, limit)


async def _page(
    consumer: AIOKafkaConsumer,
    code: str,
    tps: list[TopicPartition],
    positions: dict[int, int],
    limit: int,
) -> RequestPage:
    starts, ends = await asyncio.gather(consumer.beginning_offsets(tps), consumer.end_offsets(tps))
    consumer.assign(tps)
    at = {tp: max(positions.get(tp.partition, 0), starts[tp]) for tp in tps}
    for tp in tps:
        consumer.seek(tp, at[tp])
    found: list[DataRequest] = []
    while len(found) < limit:
        open_ = [tp for tp in tps if at[tp] < ends[tp]]
        if not open_:
            break
        consumer.resume(*open_)
        fetched = await consumer.getmany(*open_, timeout_ms=WAIT_MS, max_records=limit - len(found))
        if not fetched:
            break  # the broker did not answer in time: what was read is the page
        for tp, records in sorted(fetched.items(), key=lambda kv: kv[0].partition):
            for record in records:
                at[tp] = record.offset + 1
                request = parse_data_request(record.value or b"")
                if request is not None and request.hospital == code:
                    found.append(request)
    done = {tp.partition: at[tp] for tp in tps}
    return RequestPage(found, encode_cursor(done), any(at[tp] < ends[tp] for tp in tps))
