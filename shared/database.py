"""The database factory: PyMongo's async API (``AsyncMongoClient``), Motor's successor.

Nothing connects at import time; ``AsyncMongoClient`` itself connects lazily.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from shared.settings import Settings

Document = dict[str, Any]


def make_client(settings: Settings) -> AsyncMongoClient[Document]:
    """A client with short timeouts so a dead database is noticed quickly."""
    return AsyncMongoClient(
        settings.mongo_url,
        serverSelectionTimeoutMS=5_000,
        connectTimeoutMS=5_000,
        tz_aware=True,
        retryWrites=False,
        appname="healthlink",
    )


async def ping(client: AsyncMongoClient[Document]) -> bool:
    """True when the database answers ``ping``."""
    try:
        await client.admin.command("ping")
    except Exception:
        return False
    return True
