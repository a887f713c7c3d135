"""``ensure_indexes``: one declared list, MongoDB's indexes and FerretDB's PostgreSQL ones.

Run at service start (``runtime.on_start``); idempotent, and cheap when everything
exists. Collections are created first, so a collection nobody has written yet gets
its indexes too (FerretDB builds its table at creation).

On FerretDB a PostgreSQL DSN (``HEALTHLINK_PG_DSN``, printed by ``infra.sh env``) is
needed to build the GIN indexes its pushdown uses; without it the service still runs,
scanning, and says so once in the log. With it, FerretDB's own btree indexes are
built only where they enforce uniqueness: FerretDB never sends SQL a non-unique one
can serve (equality goes as ``@>``, sorting is done in its memory), and each costs
inserts (a (patient, category, date) one cut PostgreSQL's insert rate by a third;
docs/indexes.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from shared.database import Document
from shared.indexes.postgres import ensure_pg_indexes
from shared.indexes.spec import Index
from shared.logging import get_logger

log = get_logger(__name__)
NAMESPACE_EXISTS = 48


@dataclass
class Ensured:
    """What ``ensure_indexes`` did: the backend, MongoDB indexes ensured (or left out on
    FerretDB, where nothing would use them) and the PostgreSQL indexes built now."""

    ferretdb: bool
    mongo: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    postgres: list[str] = field(default_factory=list)


async def is_ferretdb(db: AsyncDatabase[Document]) -> bool:
    info = await db.client.admin.command("buildInfo")
    return "ferretdbVersion" in info


async def create_collections(db: AsyncDatabase[Document], names: Sequence[str]) -> None:
    """Create each collection unless it exists (another instance may be creating it too)."""
    existing = set(await db.list_collection_names())
    for name in names:
        if name in existing:
            continue
        try:
            await db.command("create", name)
        except OperationFailure as exc:
            if exc.code != NAMESPACE_EXISTS:
                raise


def _default_name(spec: Index) -> str:
    return "_".join(f"{name}_{direction}" for name, direction in spec.keys)


def _options(spec: Index) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if spec.name:
        options["name"] = spec.name
    if spec.unique:
        options["unique"] = True
    if spec.sparse:
        options["sparse"] = True
    return options


async def ensure_indexes(
    db: AsyncDatabase[Document], specs: Sequence[Index], *, pg_dsn: str | None = None
) -> Ensured:
    """Create every index ``specs`` declares on ``db``; with ``pg_dsn``, FerretDB's too."""
    await create_collections(db, list(dict.fromkeys(s.collection for s in specs)))
    ferretdb = await is_ferretdb(db)
    ensured = Ensured(ferretdb=ferretdb)
    for spec in specs:
        if spec.is_id:
            continue
        if ferretdb and pg_dsn and not spec.unique:
            ensured.left_out.append(f"{spec.collection}.{spec.name or _default_name(spec)}")
            continue
        name = await db[spec.collection].create_index(list(spec.keys), **_options(spec))
        ensured.mongo.append(f"{spec.collection}.{name}")
    if ferretdb and pg_dsn:
        ensured.postgres = await ensure_pg_indexes(pg_dsn, db.name, list(specs))
        if ensured.postgres:
            log.info("postgres indexes built", database=db.name, indexes=ensured.postgres)
    elif ferretdb:
        log.warning(
            "FerretDB without HEALTHLINK_PG_DSN: filtered reads scan whole tables",
            database=db.name,
        )
    return ensured


def ensuring(
    db: AsyncDatabase[Document], specs: Sequence[Index], pg_dsn: str = ""
) -> Callable[[], Awaitable[None]]:
    """``ensure_indexes`` as a start hook: ``runtime.on_start.append(ensuring(...))``."""

    async def hook() -> None:
        await ensure_indexes(db, specs, pg_dsn=pg_dsn or None)

    return hook
