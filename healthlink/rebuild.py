"""Replay into a fresh database, then swap the rebuilt collections in.

The service's composition root takes its database name from ``Settings.db_name``;
``RebuildSettings`` names ``<db>_rebuild`` for the one service being rebuilt, so the
service's own code writes the rebuild (other services' databases are untouched).

FerretDB renames collections only within one database and without ``dropTarget``,
so the swap is: rename the live collection to ``<name>_before_replay`` (a backup the
operator drops when satisfied), copy the rebuilt one in with its indexes, drop the
rebuild database. Collections the replay does not produce (state the service owns
rather than projects) are left as they are. The service is stopped meanwhile.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from healthlink.apps import settings_class
from shared.database import Document, make_client
from shared.settings import Settings

REBUILD_SUFFIX = "_rebuild"
BACKUP_SUFFIX = "_before_replay"
BATCH = 500


class RebuildSettings(Settings):
    """Settings whose database for ``rebuild_of`` is the rebuild database."""

    rebuild_of: str = ""

    @classmethod
    def of(cls, settings: Settings, service: str) -> Settings:
        """``service``'s own settings class, naming the rebuild database for it."""
        own = settings_class(service)
        rebuilding = type(f"Rebuild{own.__name__}", (cls, own), {})
        made: Settings = rebuilding(**settings.model_dump(), rebuild_of=service)
        return made

    def db_name(self, service: str) -> str:
        name = super().db_name(service)
        return name + REBUILD_SUFFIX if service == self.rebuild_of else name


async def drop_rebuild(
    client: AsyncMongoClient[Document], settings: Settings, service: str
) -> None:
    await client.drop_database(settings.db_name(service) + REBUILD_SUFFIX)


async def _copy_indexes(source: Any, target: Any) -> None:
    async for index in await source.list_indexes():
        if index["name"] == "_id_":
            continue
        options = {k: index[k] for k in ("unique", "sparse") if k in index}
        await target.create_index(list(index["key"].items()), name=index["name"], **options)


async def swap_in(settings: Settings, service: str) -> list[str]:
    """Replace the live collections the replay rebuilt (non-empty) with the rebuilt ones;
    returns their names."""
    client = make_client(settings)
    live_name = settings.db_name(service)
    live, rebuilt = client[live_name], client[live_name + REBUILD_SUFFIX]
    swapped = []
    try:
        existing = set(await live.list_collection_names())
        for name in sorted(await rebuilt.list_collection_names()):
            if await rebuilt[name].find_one({}, {"_id": 1}) is None:
                # Created by the service's start (its declared indexes), not by the
                # replay: state the service keeps itself (licences, rosters) stays live.
                continue
            if name in existing:
                backup = name + BACKUP_SUFFIX
                await live.drop_collection(backup)
                await client.admin.command(
                    "renameCollection", f"{live_name}.{name}", to=f"{live_name}.{backup}"
                )
            await live.create_collection(name)
            await _copy_indexes(rebuilt[name], live[name])
            batch: list[Document] = []
            async for doc in rebuilt[name].find({}):
                batch.append(doc)
                if len(batch) >= BATCH:
                    await live[name].insert_many(batch, ordered=False)
                    batch = []
            if batch:
                await live[name].insert_many(batch, ordered=False)
            swapped.append(name)
        await client.drop_database(live_name + REBUILD_SUFFIX)
    finally:
        await client.close()
    return swapped
