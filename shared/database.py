"""The database factory: PyMongo's async API (``AsyncMongoClient``), Motor's successor.

Nothing connects at import time; ``AsyncMongoClient`` itself connects lazily.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from shared.settings import Settings

Document = dict[str, Any]
DUPLICATE_KEY = 11000


def client_options(settings: Settings) -> dict[str, Any]:
    """What every database client of the platform is made with, sync or async: short
    timeouts so a dead database is noticed quickly, and at most ``mongo_max_pool``
    connections (FerretDB deadlocks past ~50 concurrent operations: docs/architecture.md)."""
    return {
        "serverSelectionTimeoutMS": 5_000,
        "connectTimeoutMS": 5_000,
        "tz_aware": True,
        "retryWrites": False,
        "maxPoolSize": settings.mongo_max_pool,
    }


def make_client(settings: Settings) -> AsyncMongoClient[Document]:
    """A client with the platform's options (``client_options``)."""
    return AsyncMongoClient(settings.mongo_url, appname="healthlink", **client_options(settings))


async def ping(client: AsyncMongoClient[Document]) -> bool:
    """True when the database answers ``ping``."""
    try:
        await client.admin.command("ping")
    except Exception:
        return False
    return True


async def insert_new(collection: AsyncCollection[Document], docs: list[Document]) -> list[int]:
    """Insert every doc whose ``_id`` is new (one round trip); the indexes of those that exist.

    Any error other than a duplicate key is raised.
    """
    if not docs:
        return []
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        details: Any = exc.details
        errors = details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors) or details.get("writeConcernErrors"):
            raise
        return sorted(int(e["index"]) for e in errors)
    return []
