"""Are conditional updates atomic on this database? ``python -m bench.cas_race``.

Ten writers run the same compare-and-set at once (``update_one({"_id", "version": 1},
{"$set": {"version": 2}, "$inc": {"n": 1}})``): on MongoDB exactly one is told it
modified the document. Then twelve reserve a counter limited to five
(``find_one_and_update({"_id", "count": {"$lt": 5}}, {"$inc": ...}, upsert=True)``, the
verification limit's shape): on MongoDB at most five are granted. FerretDB 1.24 reads
the matching document, then writes it back by ``_id`` alone
(``internal/handler/common/update.go``, ``backends/postgresql/collection.go``
``UpdateAll``), so several writers can each be told they won. See docs/indexes.md.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError

TRIALS = 20


async def compare_and_set(db: Any, writers: int) -> tuple[int, int]:
    """Writers told they won, and how many increments the document kept."""
    await db.cas.delete_many({})
    await db.cas.insert_one({"_id": "k", "version": 1, "n": 0})

    async def attempt(i: int) -> int:
        result = await db.cas.update_one(
            {"_id": "k", "version": 1}, {"$set": {"version": 2, "by": i}, "$inc": {"n": 1}}
        )
        return int(result.modified_count)

    won = sum(await asyncio.gather(*(attempt(i) for i in range(writers))))
    doc = await db.cas.find_one({"_id": "k"})
    return won, int(doc["n"])


async def reserve(db: Any, writers: int, limit: int) -> tuple[int, int]:
    """Reservations granted, and the count stored."""
    await db.attempts.delete_many({})

    async def attempt() -> bool:
        try:
            doc = await db.attempts.find_one_and_update(
                {"_id": "c", "count": {"$lt": limit}},
                {"$inc": {"count": 1}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False
        return doc is not None

    granted = sum(await asyncio.gather(*(attempt() for _ in range(writers))))
    doc = await db.attempts.find_one({"_id": "c"})
    return granted, int(doc["count"])


async def main() -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        os.environ.get("HEALTHLINK_MONGO_URL", "mongodb://127.0.0.1:27018/"), maxPoolSize=50
    )
    db = client.hlbench_cas
    try:
        sets = [await compare_and_set(db, 10) for _ in range(TRIALS)]
        counts = [await reserve(db, 12, 5) for _ in range(TRIALS)]
    finally:
        await client.drop_database(db.name)
        await client.close()
    several = sum(won > 1 for won, _ in sets)
    print(f"compare-and-set, 10 writers: more than one told it won in {several}/{TRIALS} trials")
    print("  (won, increments kept):", sets)
    over = sum(granted > 5 for granted, _ in counts)
    print(f"counter limited to 5, 12 writers: more than 5 granted in {over}/{TRIALS} trials")
    print("  (granted, count stored):", counts)


if __name__ == "__main__":
    asyncio.run(main())
