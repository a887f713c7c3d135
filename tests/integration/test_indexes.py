"""Declared indexes on the real database: MongoDB's, and on FerretDB the GIN ones it uses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql
from pymongo.asynchronous.database import AsyncDatabase

from shared.database import Document, make_client
from shared.indexes import (
    DESC,
    PgIndex,
    QueryShape,
    by_id,
    ensure_indexes,
    ensuring,
    is_ferretdb,
    on,
)
from shared.indexes.postgres import table_of
from shared.settings import Settings
from tests.support.query_plans import check_shapes

pytestmark = pytest.mark.integration

NOW = datetime(2025, 1, 1, tzinfo=UTC)
INDEXES = [
    by_id("records"),
    on("records", "patient", "category", ("date", DESC), name="patient_category_date"),
    on("audit", "event_id", unique=True, name="event_id"),
    by_id("tips"),
    on("deliveries", "state", "next_at", name="due"),
]
SHAPES = [
    QueryShape("record by id", "records", {"_id": "H1/Observation/1"}),
    QueryShape("records of a patient", "records", {"patient": "C1"}, sort=(("date", -1),)),
    QueryShape(
        "newer version", "records", {"_id": "H1/Observation/2", "rank": {"$lt": "r9"}}, op="update"
    ),
    QueryShape("seen event", "audit", {"event_id": "e1"}),
    QueryShape("tip compare-and-set", "tips", {"_id": "p0", "seq": 4, "hash": "h"}, op="update"),
    QueryShape("set aside", "deliveries", {"state": "set-aside"}),
    QueryShape(
        "due, pending",
        "deliveries",
        {"state": "pending", "next_at": {"$lte": NOW}},
        sort=(("next_at", 1),),
        op="find_and_modify",
    ),
    QueryShape(
        "records by ids",
        "records",
        {"_id": {"$in": ["H1/Observation/1", "H1/Observation/2"]}},
        scans="FerretDB 1.24 does not push $in down",
    ),
]


@pytest.fixture
async def db(stack_settings: Settings) -> AsyncIterator[AsyncDatabase[Document]]:
    client = make_client(stack_settings)
    name = stack_settings.db_name(f"idx{id(object()):x}")
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


async def _ferretdb_or_skip(db: AsyncDatabase[Document], settings: Settings) -> str:
    if not await is_ferretdb(db):
        pytest.skip("PostgreSQL indexes exist only under FerretDB")
    assert settings.pg_dsn, "the local stack exports HEALTHLINK_PG_DSN (infra.sh env)"
    return settings.pg_dsn


async def _gin_indexes(dsn: str, schema: str) -> dict[str, tuple[str, bool]]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        rows = await conn.execute(
            "SELECT c.relname, pg_get_indexdef(c.oid), i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname LIKE %s",
            (schema, "%\\_hl"),
        )
        return {str(name): (str(define), bool(valid)) async for name, define, valid in rows}


async def test_every_shape_is_served_by_an_index_and_a_scan_is_caught(
    db: AsyncDatabase[Document], stack_settings: Settings
) -> None:
    verdicts = await check_shapes(db, INDEXES, SHAPES, pg_dsn=stack_settings.pg_dsn)
    assert [v.problem for v in verdicts if v.problem] == []
    unindexed = await check_shapes(
        db, [], [QueryShape("no index", "other", {"patient": "C1"})], pg_dsn=stack_settings.pg_dsn
    )
    assert [v.scanned for v in unindexed] == [True]


async def test_indexes_are_built_once_for_collections_not_yet_written(
    db: AsyncDatabase[Document], stack_settings: Settings
) -> None:
    first = await ensure_indexes(db, INDEXES, pg_dsn=stack_settings.pg_dsn or None)
    assert set(await db.list_collection_names()) >= {"records", "audit", "tips", "deliveries"}
    info = await db.audit.index_information()
    assert info["event_id"]["unique"] is True
    dsn = await _ferretdb_or_skip(db, stack_settings)
    # FerretDB never uses a non-unique btree of its own: only the unique one is built.
    assert first.left_out == ["records.patient_category_date", "deliveries.due"]
    assert list(await db.records.index_information()) == ["_id_"]
    assert len(first.postgres) == 5  # records _id + patient, audit event_id, tips _id, state
    built = await _gin_indexes(dsn, db.name)
    assert set(built) == set(first.postgres)
    assert all("USING gin" in d and "jsonb_path_ops" in d and ok for d, ok in built.values())
    again = await ensure_indexes(db, INDEXES, pg_dsn=dsn)
    assert again.postgres == [] and again.mongo == first.mongo
    await ensuring(db, INDEXES, dsn)()  # the start hook the services append
    assert await _gin_indexes(dsn, db.name) == built


async def test_instances_starting_together_build_each_index_once(
    db: AsyncDatabase[Document], stack_settings: Settings
) -> None:
    runs = await asyncio.gather(
        *(ensure_indexes(db, INDEXES, pg_dsn=stack_settings.pg_dsn or None) for _ in range(3))
    )
    dsn = await _ferretdb_or_skip(db, stack_settings)
    assert sorted(n for r in runs for n in r.postgres) == sorted(await _gin_indexes(dsn, db.name))


async def test_a_failed_concurrent_build_is_dropped_and_built_again(
    db: AsyncDatabase[Document], stack_settings: Settings
) -> None:
    await db.records.insert_many([{"_id": f"r{i}", "patient": "same"} for i in range(3)])
    dsn = await _ferretdb_or_skip(db, stack_settings)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        table = await table_of(conn, db.name, "records")
        broken = PgIndex(db.name, table, "patient")
        with pytest.raises(psycopg.errors.UniqueViolation):  # leaves an invalid index behind
            await conn.execute(
                sql.SQL("CREATE UNIQUE INDEX CONCURRENTLY {} ON {}.{} ((_jsonb -> 'patient'))")
                .format(sql.Identifier(broken.name), sql.Identifier(db.name), sql.Identifier(table))
            )  # fmt: skip
    assert (await _gin_indexes(dsn, db.name))[broken.name][1] is False
    ensured = await ensure_indexes(db, [on("records", "patient")], pg_dsn=dsn)
    assert ensured.postgres == [broken.name]
    define, valid = (await _gin_indexes(dsn, db.name))[broken.name]
    assert valid and "USING gin" in define


async def test_the_table_is_found_through_ferretdb_metadata_not_its_name(
    db: AsyncDatabase[Document], stack_settings: Settings
) -> None:
    # Both names sanitise to the same table name: FerretDB gives the second another hash.
    await ensure_indexes(db, [by_id("Records"), by_id("records")], pg_dsn=None)
    dsn = await _ferretdb_or_skip(db, stack_settings)
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        upper, lower = (
            await table_of(conn, db.name, "Records"),
            await table_of(conn, db.name, "records"),
        )
    assert upper != lower and upper.startswith("records_") and lower.startswith("records_")
    await db.Records.insert_one({"_id": "in-upper"})
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        found = await conn.execute(
            sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(db.name), sql.Identifier(upper)
            )
        )
        assert await found.fetchone() == (1,)
