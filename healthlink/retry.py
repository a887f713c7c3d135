"""Retrying dead letters: republish the originals to where they came from."""

from __future__ import annotations

from healthlink.dlq import read_all
from shared.broker import Publisher, make_broker
from shared.deadletter import DeadLetters
from shared.settings import Settings


async def retry(settings: Settings, letter_id: str, reason: str, everything: bool) -> int:
    letters = [
        letter
        for letter in await read_all(settings)
        if everything or letter.id == letter_id or (reason and letter.reason == reason)
    ]
    broker = make_broker(settings, "cli")
    await broker.connect()
    try:
        dead = DeadLetters(Publisher(broker, settings), "cli", settings.topic_prefix)
        for letter in letters:
            await dead.retry(letter)
    finally:
        await broker.stop()
    return len(letters)
