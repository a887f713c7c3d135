"""Retrying dead letters: republish the originals to where they came from."""

from __future__ import annotations

from shared.admin import Status, read_book, retry_letters
from shared.broker import Publisher, make_broker
from shared.deadletter import DeadLetters
from shared.settings import Settings


async def retry(
    settings: Settings,
    letter_id: str = "",
    reason: str = "",
    everything: bool = False,
    include_retried: bool = False,
) -> list[str]:
    """Retry one letter, every pending letter with ``reason``, or every pending letter.

    A letter named by id is retried even when it was retried before; selections by
    reason or ``everything`` skip letters already retried unless ``include_retried``.
    Returns the ids sent back.
    """
    if not (letter_id or reason or everything):
        return []
    book = await read_book(settings)
    status: Status = "all" if include_retried or letter_id else "pending"
    chosen = book.select(ids=[letter_id] if letter_id else [], reason=reason, status=status)
    if not chosen:
        return []
    broker = make_broker(settings, "operator")
    await broker.connect()
    try:
        dead = DeadLetters(Publisher(broker, settings), "operator", settings.topic_prefix)
        return await retry_letters(dead, chosen)
    finally:
        await broker.stop()
