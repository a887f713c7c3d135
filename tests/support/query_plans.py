"""The ``EXPLAIN`` test's harness: is every declared query shape served by an index?

For each collection the shapes name, ``SEED_ROWS`` documents are written in which
every value the shapes match by equality is rare (each seeded row holds another
value of the same type) plus one matching document per shape: the table grows, the
answer does not, which is what an index is for. Then the declared indexes are built
(``ensure_indexes``, the same call the services make), the tables analysed, and each
shape explained by the database itself:

- FerretDB: its ``explain`` command returns PostgreSQL's plan for the SQL it would
  send (the pushed-down filter); a ``Seq Scan`` of the collection's table fails.
  Every shape is explained as a ``find``; an update, delete or count pushes down the
  same fields plus dotted ones, so a ``find`` served by an index means they are too.
- MongoDB: ``explain`` of the ``find``; a ``COLLSCAN`` fails.

No planner setting is touched (``enable_seqscan`` stays on): with ~2,000 rows the
planner already prefers an index for a rare value (it does from ~500), so a shape
that scans here scans at any size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from bson import ObjectId
from psycopg import sql
from pymongo.asynchronous.database import AsyncDatabase

from shared.database import Document
from shared.indexes import Index, QueryShape, ensure_indexes, is_ferretdb, pushed_down, table_of

SEED_ROWS = 2_000
PAD = "x" * 200  # rows about the size of a small document


@dataclass(frozen=True)
class Verdict:
    """How the database would run one shape."""

    shape: QueryShape
    scanned: bool
    plan: str

    @property
    def problem(self) -> str | None:
        """Why this verdict fails the test, or None."""
        if self.shape.scans is None and self.scanned:
            return f"{self.shape.name}: scans {self.shape.collection} ({self.plan})"
        if self.shape.scans is not None and not self.scanned:
            return (
                f"{self.shape.name}: declared to scan ({self.shape.scans}) but uses an index "
                f"({self.plan}); drop its `scans`"
            )
        return None


def _other(value: Any, i: int) -> Any:
    """A value of the same type as ``value`` that does not equal it."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + i + 1
    if isinstance(value, datetime):
        return value + timedelta(seconds=i + 1)
    if isinstance(value, ObjectId):
        return ObjectId()
    return f"{value}~{i}"


def _put(doc: Document, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        child = doc.get(part)
        if not isinstance(child, dict):
            child = doc[part] = {}
        doc = child
    doc[last] = value


def _equalities(shape: QueryShape) -> dict[str, Any]:
    return pushed_down(shape.filter, shape.op, nested=True)


def _row(shapes: Sequence[QueryShape], i: int) -> Document:
    """A row holding, for every field the shapes match, another value than theirs."""
    doc: Document = {"_id": f"seed-{i}", "pad": PAD}
    for shape in shapes:
        for path, value in _equalities(shape).items():
            if path != "_id":
                _put(doc, path, _other(value, i))
    return doc


def seed_documents(shapes: Sequence[QueryShape], rows: int = SEED_ROWS) -> list[Document]:
    """Rows where each shape's equality values are rare, then one match per shape."""
    docs = [_row(shapes, i) for i in range(rows)]
    ids = {d["_id"] for d in docs}
    for n, shape in enumerate(shapes):
        doc = _row(shapes, rows + n)  # other fields unique too (unique indexes)
        doc["_id"] = f"match-{n}"
        for path, value in _equalities(shape).items():
            _put(doc, path, value)
        if doc["_id"] not in ids:
            ids.add(doc["_id"])
            docs.append(doc)
    return docs


def _nodes(plan: Mapping[str, Any], children: tuple[str, ...]) -> Iterator[Mapping[str, Any]]:
    yield plan
    for key in children:
        value = plan.get(key)
        for child in value if isinstance(value, list) else [value] if value else []:
            yield from _nodes(child, children)


def postgres_verdict(shape: QueryShape, table: str, explained: Mapping[str, Any]) -> Verdict:
    root = explained["queryPlanner"].get("Plan", {})
    nodes = list(_nodes(root, ("Plans",)))
    scanned = any(
        n.get("Node Type") == "Seq Scan" and n.get("Relation Name") == table for n in nodes
    )
    steps = [str(n.get("Index Name") or n.get("Node Type")) for n in nodes]
    return Verdict(shape, scanned, " > ".join(steps) or "no plan")


def mongo_verdict(shape: QueryShape, explained: Mapping[str, Any]) -> Verdict:
    root = explained["queryPlanner"]["winningPlan"]
    nodes = list(_nodes(root.get("queryPlan", root), ("inputStage", "inputStages")))
    stages = [str(n.get("indexName") or n.get("stage")) for n in nodes]
    return Verdict(shape, "COLLSCAN" in stages, " > ".join(stages))


async def _explain(db: AsyncDatabase[Document], shape: QueryShape) -> Mapping[str, Any]:
    command: Document = {"find": shape.collection, "filter": dict(shape.filter)}
    if shape.sort:
        command["sort"] = dict(shape.sort)
    return await db.command("explain", command)


async def _analyze(pg_dsn: str, db: str, collections: Sequence[str]) -> dict[str, str]:
    """ANALYZE each collection's table (fresh statistics, as autovacuum would keep)."""
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        tables = {c: await table_of(conn, db, c) for c in collections}
        for table in tables.values():
            await conn.execute(
                sql.SQL("ANALYZE {}.{}").format(sql.Identifier(db), sql.Identifier(table))
            )
        return tables


async def check_shapes(
    db: AsyncDatabase[Document],
    indexes: Sequence[Index],
    shapes: Sequence[QueryShape],
    *,
    pg_dsn: str,
    rows: int = SEED_ROWS,
) -> list[Verdict]:
    """Seed, build ``indexes`` and explain every shape on a fresh database ``db``."""
    collections = list(dict.fromkeys(s.collection for s in shapes))
    for name in collections:
        await db[name].insert_many(
            seed_documents([s for s in shapes if s.collection == name], rows)
        )
    await ensure_indexes(db, indexes, pg_dsn=pg_dsn or None)
    if not await is_ferretdb(db):
        return [mongo_verdict(s, await _explain(db, s)) for s in shapes if s.scans is None]
    if not pg_dsn:
        raise RuntimeError("FerretDB without HEALTHLINK_PG_DSN: its indexes cannot be built")
    tables = await _analyze(pg_dsn, db.name, collections)
    return [postgres_verdict(s, tables[s.collection], await _explain(db, s)) for s in shapes]
