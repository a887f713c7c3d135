"""Rebuild the consent service's state from the event log into an empty database.

Reads ``CONSENT_EVENTS`` and ``HOSPITAL_EVENTS`` from the beginning up to their
current end and applies every event the way the live service wrote it: state
events give ``version``, ``state`` and a history entry per consent or hospital;
``patient.registered`` and ``patient.verification_succeeded`` give the patients.
Applying is idempotent (a version is written once), so a rebuild can be re-run.
Not rebuilt: the verification counters (they only matter for the current day).

    python -m services.consent.rebuild --into healthlink_consent_rebuilt
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.consent.domain import ConsentState
from services.consent.repository import KINDS, PENDING, history_entry, with_expiry_day
from shared import topics
from shared.database import Document, make_client
from shared.errors import Rejected
from shared.events import (
    ConsentChanged,
    Envelope,
    HospitalChanged,
    PatientRegistered,
    VerificationSucceeded,
    parse,
)
from shared.kafka_client import client_options
from shared.logging import get_logger
from shared.settings import Settings

log = get_logger(__name__)
NULLABLE = ("next_expiry", "expiry_day")
KIND_OF = {topics.CONSENT_EVENTS: "consents", topics.HOSPITAL_EVENTS: "hospitals"}


async def apply_state(
    db: AsyncDatabase[Document],
    kind: str,
    changed: ConsentChanged | HospitalChanged,
    event: Envelope,
) -> bool:
    """Write the event's version of the state with its history entry, once."""
    version, state = changed.version, changed.state.model_dump(mode="json")
    fields: Document = {"version": version, "state": state}
    if isinstance(changed.state, ConsentState):
        fields = with_expiry_day({**fields, "next_expiry": changed.state.next_expiry()})
    entry = history_entry(version, event, state)
    result = await db[kind].update_one(
        {"_id": event.subject, "version": {"$lt": version}},
        {"$set": fields, "$push": {"history": entry}},
    )
    if result.matched_count:
        return True
    try:
        await db[kind].insert_one({"_id": event.subject, **fields, "history": [entry]})
    except DuplicateKeyError:
        return False
    return True


async def apply(db: AsyncDatabase[Document], topic: str, event: Envelope) -> None:
    try:
        payload = parse(event)
    except Rejected:
        log.warning("unreadable event skipped", topic=topic, event_id=event.id)
        return
    if isinstance(payload, ConsentChanged | HospitalChanged):
        await apply_state(db, KIND_OF[topic], payload, event)
    elif isinstance(payload, PatientRegistered):
        doc = {
            "_id": event.subject,
            "birth_date": payload.birth_date.isoformat(),
            "registered_at": payload.registered_at,
        }
        with contextlib.suppress(DuplicateKeyError):  # registered by an earlier replay
            await db.patients.insert_one(doc)
    elif isinstance(payload, VerificationSucceeded):
        at = payload.time
        await db.patients.update_one({"_id": event.subject}, {"$min": {"verified_at": at}})


async def read_log(settings: Settings) -> list[tuple[str, Envelope]]:
    """Every readable event of both topics, from the beginning to the current end."""
    named = {topics.named(t, settings.topic_prefix): t for t in KIND_OF}
    consumer = AIOKafkaConsumer(
        *named,
        **client_options(settings, "consent"),  # the consent service rebuilding itself
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        parts = await assigned(consumer)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        found: list[tuple[str, Envelope]] = []
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(*parts, timeout_ms=500)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    try:
                        envelope = Envelope.model_validate_json(record.value or b"")
                    except ValidationError:
                        log.warning(
                            "unreadable event skipped", topic=tp.topic, offset=record.offset
                        )
                        continue
                    found.append((named[tp.topic], envelope))
        return found
    finally:
        await consumer.stop()


async def assigned(consumer: AIOKafkaConsumer, timeout_s: float = 30.0) -> list[TopicPartition]:
    """The partitions of the subscribed topics, once the consumer has them all."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not consumer.assignment():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("no partitions assigned")
        await asyncio.sleep(0.1)
    return sorted(consumer.assignment())


async def rebuild(settings: Settings, db: AsyncDatabase[Document]) -> int:
    """Replay the log into ``db``; returns how many events were read."""
    events = await read_log(settings)
    for topic, envelope in events:
        await apply(db, topic, envelope)
    log.info("consent state rebuilt", events=len(events), database=db.name)
    return len(events)


async def snapshot(db: AsyncDatabase[Document]) -> dict[str, list[Document]]:
    """The consent service's state, for comparisons (the outboxes are transport, not state)."""
    found: dict[str, list[Document]] = {}
    for kind in KINDS:
        cursor = db[kind].find({}, {"outbox": 0, PENDING: 0}).sort("_id", 1)
        found[kind] = [_normalised(doc) async for doc in cursor]
    return found


def _normalised(doc: Document) -> Document:
    return {k: v for k, v in doc.items() if v is not None or k not in NULLABLE}


async def main(into: str) -> None:
    settings = Settings()
    client = make_client(settings)
    try:
        count = await rebuild(settings, client[into])
    finally:
        await client.close()
    print(f"rebuilt {into} from {count} events")


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--into", required=True, help="an empty database to rebuild into")
    args: Any = parser.parse_args(argv)
    asyncio.run(main(args.into))


if __name__ == "__main__":
    cli()
