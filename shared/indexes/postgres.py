"""The PostgreSQL indexes FerretDB 1.24's pushdown can use, created next to its own.

FerretDB stores a collection as one ``jsonb`` column ``_jsonb`` in a table of the
schema named after the database; the table's name is a hash it picks, recorded in
that schema's ``_ferretdb_database_metadata`` (``_id`` = collection, ``table``). An
equality filter reaches PostgreSQL as ``_jsonb->'field' @> value``: a btree (what
FerretDB's own ``createIndexes`` builds) cannot serve ``@>``, a GIN index on the
same expression can. So for each equality field this module creates

    CREATE INDEX [CONCURRENTLY] IF NOT EXISTS <name> ON <schema>.<table>
        USING gin ((_jsonb -> 'field') jsonb_path_ops) WITH (fastupdate = off)

(``_jsonb #> '{a,b}'`` for a dotted field). ``jsonb_path_ops``: smaller and faster
than the default ``jsonb_ops`` for ``@>``, the only operator used. ``fastupdate =
off``: with it on, up to 4 MB of new entries wait in a pending list that every
lookup reads, ~8 ms instead of ~0.5 ms while inserts flow (see docs/indexes.md).
``CONCURRENTLY`` on a table past ``CONCURRENT_BYTES``: a build on a large live table
does not block its writers (a build that failed leaves an invalid index, which is
dropped and built again); a smaller table is indexed plainly, in milliseconds, as a
concurrent build would wait for every older transaction in the whole database.

FerretDB does not know these indexes (``listIndexes`` does not show them); they go
with the table when the collection is dropped. Names end in ``_hl`` (FerretDB's own
end in ``_idx``), so they never collide. Every build holds one advisory lock, so
instances starting together do not race (see ``_lock``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from shared.indexes.spec import Index

METADATA_TABLE = "_ferretdb_database_metadata"
LOCK_KEY = 0x686C_6964_7800  # "hlidx": one advisory lock for every index build
LOCK_POLL_S = 0.05
CONCURRENT_BYTES = 32 * 2**20  # ~20,000 records: a plain build would block writes ~1 s
OPCLASS = "jsonb_path_ops"
SUFFIX = "_hl"


class NotFerretDB(RuntimeError):
    """The PostgreSQL given does not hold FerretDB's tables for this database."""


@dataclass(frozen=True)
class PgIndex:
    """One GIN expression index on one FerretDB table."""

    schema: str
    table: str
    field: str

    @property
    def expression(self) -> sql.Composable:
        parts = self.field.split(".")
        if len(parts) == 1:
            return sql.SQL("(_jsonb -> {})").format(sql.Literal(self.field))
        path = "{" + ",".join(parts) + "}"  # fields are [A-Za-z0-9_] (spec._check_field)
        return sql.SQL("(_jsonb #> {}::text[])").format(sql.Literal(path))

    @property
    def name(self) -> str:
        digest = hashlib.sha1(f"{self.field}|{OPCLASS}|fastupdate=off".encode()).hexdigest()
        slug = re.sub(r"[^a-z0-9]+", "_", self.field.lower()).strip("_")
        return f"{self.table[:28]}_{slug[:20]}_{digest[:8]}{SUFFIX}"

    def create(self, concurrently: bool = True) -> sql.Composed:
        return sql.SQL(
            "CREATE INDEX {}IF NOT EXISTS {} ON {}.{} USING gin ({} {}) WITH (fastupdate = off)"
        ).format(
            sql.SQL("CONCURRENTLY " if concurrently else ""),
            sql.Identifier(self.name),
            sql.Identifier(self.schema),
            sql.Identifier(self.table),
            self.expression,
            sql.SQL(OPCLASS),
        )

    def drop(self, concurrently: bool = True) -> sql.Composed:
        return sql.SQL("DROP INDEX {}IF EXISTS {}.{}").format(
            sql.SQL("CONCURRENTLY " if concurrently else ""),
            sql.Identifier(self.schema),
            sql.Identifier(self.name),
        )


async def table_of(conn: psycopg.AsyncConnection[tuple[object, ...]], db: str, coll: str) -> str:
    """The table FerretDB keeps ``db.coll`` in, read from its metadata table."""
    found = await conn.execute(
        sql.SQL("SELECT _jsonb ->> 'table' FROM {}.{} WHERE _jsonb -> '_id' = to_jsonb(%s::text)")
        .format(sql.Identifier(db), sql.Identifier(METADATA_TABLE)),
        (coll,),
    )  # fmt: skip
    row = await found.fetchone()
    if row is None or not row[0]:
        raise NotFerretDB(f"no FerretDB table for collection {coll!r} in schema {db!r}")
    return str(row[0])


async def _has_metadata(conn: psycopg.AsyncConnection[tuple[object, ...]], db: str) -> bool:
    found = await conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
        (db, METADATA_TABLE),
    )
    return await found.fetchone() is not None


async def _validity(
    conn: psycopg.AsyncConnection[tuple[object, ...]], index: PgIndex
) -> bool | None:
    """True: present and valid; False: present but invalid (a failed build); None: absent."""
    found = await conn.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (index.schema, index.name),
    )
    row = await found.fetchone()
    return None if row is None else bool(row[0])


async def _bytes(conn: psycopg.AsyncConnection[tuple[object, ...]], index: PgIndex) -> int:
    """The table's size on disk (with its TOAST), and 0 when it holds no row."""
    query = sql.SQL(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM {0}.{1}) THEN pg_table_size(%s::regclass) END"
    ).format(sql.Identifier(index.schema), sql.Identifier(index.table))
    qualified = sql.Identifier(index.schema, index.table).as_string(conn)
    row = await (await conn.execute(query, (qualified,))).fetchone()
    size = row[0] if row else None
    return size if isinstance(size, int) else 0


async def _lock(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
    """Take the build lock, polling: a session waiting inside ``pg_advisory_lock`` is a
    running transaction, which ``CREATE INDEX CONCURRENTLY`` in the holder waits for
    (a deadlock)."""
    while True:
        row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))).fetchone()
        if row and row[0]:
            return
        await asyncio.sleep(LOCK_POLL_S)


def wanted(db: str, tables: dict[str, str], specs: Iterable[Index]) -> list[PgIndex]:
    """The GIN indexes ``specs`` call for, once each, in declaration order."""
    found: dict[tuple[str, str], PgIndex] = {}
    for spec in specs:
        for name in spec.equality_fields:
            index = PgIndex(db, tables[spec.collection], name)
            found.setdefault((index.table, index.field), index)
    return list(found.values())


async def ensure_pg_indexes(dsn: str, db: str, specs: list[Index]) -> list[str]:
    """Create the GIN indexes ``specs`` call for in database ``db``; the names built now.

    The collections must exist (``shared.indexes.ensure`` creates them first).
    """
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        if not await _has_metadata(conn, db):
            raise NotFerretDB(f"schema {db!r} has no {METADATA_TABLE}: not FerretDB's PostgreSQL")
        tables = {
            c: await table_of(conn, db, c) for c in dict.fromkeys(s.collection for s in specs)
        }
        built: list[str] = []
        await _lock(conn)
        try:
            analyze: set[str] = set()
            for index in wanted(db, tables, specs):
                state = await _validity(conn, index)
                if state:
                    continue
                size = await _bytes(conn, index)
                concurrently = size > CONCURRENT_BYTES
                if state is False:
                    await conn.execute(index.drop(concurrently))
                await conn.execute(index.create(concurrently))
                built.append(index.name)
                if size:
                    analyze.add(index.table)
            for table in sorted(analyze):  # statistics on the new expressions, for the planner
                await conn.execute(
                    sql.SQL("ANALYZE {}.{}").format(sql.Identifier(db), sql.Identifier(table))
                )
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        return built
