"""Writes to one key go in turn; other keys do not wait; nothing is kept afterwards."""

from __future__ import annotations

import asyncio

import pytest

from shared.keylocks import KeyLocks

pytestmark = pytest.mark.unit


async def test_holders_of_one_key_go_in_turn_and_other_keys_do_not_wait() -> None:
    locks, inside, most, order = KeyLocks(), {"a": 0, "b": 0}, {"a": 0, "b": 0}, []

    async def write(key: str, n: int) -> None:
        async with locks.hold(("consents", key)):
            inside[key] += 1
            most[key] = max(most[key], inside[key])
            order.append((key, n))
            await asyncio.sleep(0.01)
            inside[key] -= 1

    await asyncio.gather(*(write(key, n) for n in range(5) for key in ("a", "b")))
    assert most == {"a": 1, "b": 1}
    assert order[:2] == [("a", 0), ("b", 0)]  # b did not wait for a
    assert [n for key, n in order if key == "a"] == [0, 1, 2, 3, 4]  # in the order they came
    assert len(locks) == 0


async def test_a_failed_write_releases_its_key() -> None:
    locks = KeyLocks()
    with pytest.raises(RuntimeError):
        async with locks.hold("k"):
            raise RuntimeError("database gone")
    async with asyncio.timeout(1):
        async with locks.hold("k"):
            pass
    assert len(locks) == 0
