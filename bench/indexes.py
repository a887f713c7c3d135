"""FerretDB 1.24 query shapes on a large table, before and after the GIN indexes.

``python -m bench.indexes [ROWS]`` (local stack up, ``infra.sh env`` exported; not part
of ``make bench``: filling 500,000 documents takes a few minutes). Fills
``hlbench_indexes.records`` with ingest-shaped documents through FerretDB (kept between
runs), then times each query shape the services use without and with the indexes
``shared.indexes`` builds, the cost of building them, insert throughput with and
without them, ``jsonb_ops`` against ``jsonb_path_ops``, GIN's pending list
(``fastupdate``) and PostgreSQL's generic-plan trap. Results go to
``bench/results/indexes.json``; docs/indexes.md shows them.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import string
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from pymongo import DESCENDING, MongoClient, ReturnDocument
from pymongo.database import Database

DB = "hlbench_indexes"
RESULTS = Path(__file__).parent / "results" / "indexes.json"
TYPES = [
    "Observation",
    "Condition",
    "MedicationStatement",
    "Encounter",
    "Procedure",
    "AllergyIntolerance",
    "Immunization",
    "DiagnosticReport",
]
PER_PATIENT = 100
HOSPITALS = 40
BATCH = 500
BASE = datetime(2015, 1, 1, tzinfo=UTC)
FILLER = "".join(random.Random(7).choices(string.ascii_letters + " ", k=4000))
Doc = dict[str, Any]
UNSERVED = ("find by nested origin.upload", "find $in 32 _ids", "find date $lt, limit 10")
TRAP_QUERY = "SELECT _jsonb FROM hlbench_generic.t WHERE _jsonb->%s @> %s::jsonb"


def record(i: int, upload: str | None = None) -> Doc:
    """One stored resource as ingest writes it (``services/ingest/documents.py``)."""
    patient, rtype = i // PER_PATIENT, TYPES[i % len(TYPES)]
    hospital, rid = f"H{patient % HOSPITALS:03d}", f"r{i:09d}"
    date = BASE + timedelta(minutes=37 * i % 5_000_000)
    resource = {
        "resourceType": rtype,
        "id": rid,
        "meta": {"lastUpdated": date.isoformat(), "versionId": "1"},
        "subject": {"reference": f"Patient/P{patient:07d}"},
        "text": {"div": FILLER[(i * 13) % 3000 : (i * 13) % 3000 + 600 + i % 700]},
    }
    upload = upload or f"u{i // 25:08d}"
    return {
        "_id": f"{hospital}/{rtype}/{rid}",
        "patient": f"P{patient:07d}",
        "hospital": hospital,
        "type": rtype,
        "category": rtype.lower(),
        "sensitive": i % 17 == 0,
        "date": date,
        "rank": f"{date.isoformat()}|000000000001",
        "upload_id": upload,
        "origin": {"upload": upload, "hospital": hospital},
        "received_at": date,
        "resource_json": json.dumps(resource),
    }


def insert_rate(db: Database[Doc], start: int, count: int, upload: str | None = None) -> float:
    """Documents per second inserting ``count`` records in batches of ``BATCH``, 3 at once."""

    def put(lo: int) -> None:
        batch = [record(i, upload) for i in range(lo, min(lo + BATCH, start + count))]
        db.records.insert_many(batch, ordered=False)

    began = time.perf_counter()
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(put, range(start, start + count, BATCH)))
    return round(count / (time.perf_counter() - began))


def median_ms(run: Callable[[int], object], n: int) -> float:
    """Median of ``n`` runs; a run that returns a float timed itself (seconds)."""
    times = []
    for k in range(n):
        began = time.perf_counter()
        took = run(k)
        took = took if isinstance(took, float) else time.perf_counter() - began
        times.append(took * 1000)
    return round(statistics.median(times), 2)


def record_id(i: int) -> str:
    return str(record(i)["_id"])


def shapes(db: Database[Doc], rows: int, seed: int) -> dict[str, Callable[[int], object]]:
    """Every query shape the services issue, on the records table."""
    rnd = random.Random(seed)
    pick = [rnd.randrange(rows) for _ in range(64)]
    patients = [f"P{i // PER_PATIENT:07d}" for i in pick]
    coll = db.records

    def some(k: int) -> int:
        return pick[k % len(pick)]

    def deleted(k: int) -> object:
        coll.insert_one({"_id": f"del-{seed}-{k}", "patient": "nobody"})
        began = time.perf_counter()
        coll.delete_one({"_id": f"del-{seed}-{k}"})
        return time.perf_counter() - began

    def in_ids(k: int) -> object:
        return list(coll.find({"_id": {"$in": [record_id(i + k) for i in pick[:32]]}}, {"_id": 1}))

    def one_by_one(k: int) -> object:
        return [coll.find_one({"_id": record_id(i + k)}, {"_id": 1}) for i in pick[:32]]

    return {
        "find_one by _id": lambda k: coll.find_one({"_id": record_id(some(k))}),
        "find by patient (100 docs)": lambda k: list(coll.find({"patient": patients[k]})),
        "find by patient + category": lambda k: list(
            coll.find({"patient": patients[k], "category": "observation"})
        ),
        "find by patient, sort date desc, limit 10": lambda k: list(
            coll.find({"patient": patients[k]}).sort("date", DESCENDING).limit(10)
        ),
        "count_documents by patient": lambda k: coll.count_documents({"patient": patients[k]}),
        "update_many by nested origin.upload (25 docs)": lambda k: coll.update_many(
            {"origin.upload": f"u{some(k) // 25:08d}"}, {"$set": {"seen": k}}
        ),
        "find by nested origin.upload": lambda k: list(
            coll.find({"origin.upload": f"u{some(k) // 25:08d}"}, {"_id": 1})
        ),
        "update_one {_id, rank $lt}": lambda k: coll.update_one(
            {"_id": record_id(some(k)), "rank": {"$lt": "9"}}, {"$set": {"seen": k}}
        ),
        "update_one compare-and-set {_id, rank}": lambda k: coll.update_one(
            {"_id": record_id(some(k)), "rank": "no such rank"}, {"$set": {"seen": k}}
        ),
        "find_one_and_update {_id} upsert": lambda k: coll.find_one_and_update(
            {"_id": f"fau-{seed}-{k}"},
            {"$inc": {"n": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        ),
        "delete_one by _id": deleted,
        "find $in 32 _ids": in_ids,
        "32 x find_one by _id": one_by_one,
        "find date $lt, limit 10": lambda k: list(
            coll.find({"date": {"$lt": BASE + timedelta(days=k)}}).limit(10)
        ),
    }


def time_shapes(db: Database[Doc], rows: int, seed: int, slow: bool) -> dict[str, float]:
    """Median per shape: 3 runs of a shape that scans, 15 of one served by an index."""
    found = shapes(db, rows, seed)
    if slow:
        found.pop("32 x find_one by _id")  # 32 scans in a row
    return {
        name: median_ms(run, 3 if slow or name in UNSERVED else 15) for name, run in found.items()
    }


def table_of(pg: psycopg.Connection[Any], collection: str) -> str:
    query = sql.SQL(
        "SELECT _jsonb->>'table' FROM {}._ferretdb_database_metadata "
        "WHERE _jsonb->'_id' = to_jsonb(%s::text)"
    ).format(sql.Identifier(DB))
    row = pg.execute(query, (collection,)).fetchone()
    assert row is not None
    return str(row[0])


def drop_extra_indexes(pg: psycopg.Connection[Any], db: Database[Doc], table: str) -> None:
    """Back to FerretDB's own ``_id`` index only."""
    db.records.drop_indexes()
    rows = pg.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s "
        "AND indexname LIKE %s",
        (DB, table, "%\\_hl"),
    ).fetchall()
    for (name,) in rows:
        pg.execute(sql.SQL("DROP INDEX {}.{}").format(sql.Identifier(DB), sql.Identifier(name)))


def build(pg: psycopg.Connection[Any], table: str, field: str, opclass: str) -> dict[str, Any]:
    from shared.indexes import PgIndex

    index = PgIndex(DB, table, field)
    name = index.name if opclass == "jsonb_path_ops" else f"{table[:30]}_{field[:10]}_ops_hl"
    began = time.perf_counter()
    pg.execute(
        sql.SQL(
            "CREATE INDEX CONCURRENTLY {} ON {}.{} USING gin ({} {}) WITH (fastupdate = off)"
        ).format(
            sql.Identifier(name),
            sql.Identifier(DB),
            sql.Identifier(table),
            index.expression,
            sql.SQL(opclass),
        )
    )
    seconds = round(time.perf_counter() - began, 1)
    size = pg.execute("SELECT pg_relation_size(%s::regclass)", (f'"{DB}"."{name}"',)).fetchone()
    return {"name": name, "build_s": seconds, "mb": round((size or [0])[0] / 2**20, 1)}


WRITE_SETUPS = {
    "FerretDB _id index only": ((), False),
    "+ GIN _id": (("_id",), False),
    "+ GIN _id, patient, origin.upload": (("_id", "patient", "origin.upload"), False),
    "+ those and FerretDB's btree (patient, category, date)": (
        ("_id", "patient", "origin.upload"),
        True,
    ),
}


def write_cost(db: Database[Doc], pg: psycopg.Connection[Any], rounds: int = 5) -> dict[str, int]:
    """Insert rate per index setup: one collection each, filled in turns (same noise)."""
    from shared.indexes import PgIndex

    names = {setup: f"write{n}" for n, setup in enumerate(WRITE_SETUPS)}
    for setup, (fields, btree) in WRITE_SETUPS.items():
        coll = db[names[setup]]
        coll.drop()
        db.create_collection(coll.name)
        table = table_of(pg, coll.name)
        for field in fields:
            pg.execute(PgIndex(DB, table, field).create(concurrently=False))
        if btree:
            coll.create_index([("patient", 1), ("category", 1), ("date", -1)])
    took = dict.fromkeys(WRITE_SETUPS, 0.0)
    for r in range(rounds):
        for setup in WRITE_SETUPS:
            coll = db[names[setup]]
            docs = [record(i) for i in range(r * 10_000, (r + 1) * 10_000)]
            began = time.perf_counter()
            for lo in range(0, len(docs), BATCH):
                coll.insert_many(docs[lo : lo + BATCH], ordered=False)
            took[setup] += time.perf_counter() - began
    for name in names.values():
        db.drop_collection(name)
    return {setup: round(rounds * 10_000 / seconds) for setup, seconds in took.items()}


def pending_list(db: Database[Doc], pg: psycopg.Connection[Any]) -> dict[str, float]:
    """Lookup latency right after 20,000 inserts, GIN ``fastupdate`` on and off."""
    found = {}
    for fastupdate in ("on", "off"):
        db.drop_collection("pending")
        db.create_collection("pending")
        table = table_of(pg, "pending")
        pg.execute(
            sql.SQL(
                "CREATE INDEX ON {}.{} USING gin ((_jsonb -> '_id') jsonb_path_ops) "
                "WITH (fastupdate = {})"
            ).format(sql.Identifier(DB), sql.Identifier(table), sql.SQL(fastupdate))
        )
        pg.execute(sql.SQL("ANALYZE {}.{}").format(sql.Identifier(DB), sql.Identifier(table)))
        for lo in range(0, 20_000, BATCH):
            docs = [{"_id": f"k{i}", "pad": "x" * 500} for i in range(lo, lo + BATCH)]
            db.pending.insert_many(docs)
        found[f"fastupdate={fastupdate}"] = median_ms(
            lambda k: db.pending.find_one({"_id": f"k{k * 37}"}), 31
        )
    db.drop_collection("pending")
    return found


def generic_plan_trap(pg: psycopg.Connection[Any]) -> dict[str, float]:
    """A statement prepared like FerretDB's (``_jsonb->$1 @> $2``): planned on 10 rows,
    run on 200,000 before the next ANALYZE, default plan cache mode and per-execution."""
    found = {}
    pg.execute("CREATE SCHEMA IF NOT EXISTS hlbench_generic")
    for mode in ("auto", "force_custom_plan"):
        pg.execute("DROP TABLE IF EXISTS hlbench_generic.t")
        pg.execute("CREATE TABLE hlbench_generic.t (_jsonb jsonb) WITH (autovacuum_enabled = off)")
        pg.execute(
            "CREATE INDEX ON hlbench_generic.t USING gin ((_jsonb -> '_id') jsonb_path_ops) "
            "WITH (fastupdate = off)"
        )
        pg.execute(
            "INSERT INTO hlbench_generic.t SELECT jsonb_build_object('_id', 'k' || i, "
            "'pad', repeat('x', 1000)) FROM generate_series(1, 10) i"
        )
        pg.execute("ANALYZE hlbench_generic.t")
        pg.execute(sql.SQL("SET plan_cache_mode = {}").format(sql.SQL(mode)))
        for i in range(10):
            pg.execute(TRAP_QUERY, ("_id", f'"k{i}"'), prepare=True)
        pg.execute(
            "INSERT INTO hlbench_generic.t SELECT jsonb_build_object('_id', 'g' || i, "
            "'pad', repeat('x', 1000)) FROM generate_series(1, 200000) i"
        )
        found[mode] = median_ms(
            lambda k: pg.execute(TRAP_QUERY, ("_id", f'"g{k * 991}"'), prepare=True).fetchall(), 5
        )
    pg.execute("RESET plan_cache_mode")
    pg.execute("DROP SCHEMA hlbench_generic CASCADE")
    return found


def main(rows: int) -> dict[str, Any]:
    client: MongoClient[Doc] = MongoClient(os.environ["HEALTHLINK_MONGO_URL"], tz_aware=True)
    db = client[DB]
    pg = psycopg.connect(os.environ["HEALTHLINK_PG_DSN"], autocommit=True)
    out: dict[str, Any] = {"rows": rows}
    have = db.records.estimated_document_count()
    if have < rows:
        out["fill_docs_per_s"] = insert_rate(db, have, rows - have)
        print(f"filled {rows - have} documents at {out['fill_docs_per_s']}/s", flush=True)
    table = table_of(pg, "records")
    drop_extra_indexes(pg, db, table)
    pg.execute(sql.SQL("VACUUM ANALYZE {}.{}").format(sql.Identifier(DB), sql.Identifier(table)))
    size = pg.execute("SELECT pg_total_relation_size(%s::regclass)", (f'"{DB}"."{table}"',))
    out["table_mb"] = round((size.fetchone() or [0])[0] / 2**20)
    out["rows_now"] = db.records.estimated_document_count()
    out["before_ms"] = time_shapes(db, rows, 1, slow=True)
    print("before", json.dumps(out["before_ms"], indent=1), flush=True)
    out["ops_vs_path_ops"] = {
        "jsonb_ops": build(pg, table, "_id", "jsonb_ops"),
        "jsonb_path_ops": build(pg, table, "_id", "jsonb_path_ops"),
    }
    pg.execute(sql.SQL("ANALYZE {}.{}").format(sql.Identifier(DB), sql.Identifier(table)))
    by_id = db.records.find_one
    out["ops_vs_path_ops"]["jsonb_path_ops"]["lookup_ms"] = median_ms(
        lambda k: by_id({"_id": record_id(k * 7919 % rows)}), 31
    )
    path_ops = out["ops_vs_path_ops"]["jsonb_path_ops"]["name"]
    pg.execute(sql.SQL("DROP INDEX {}.{}").format(sql.Identifier(DB), sql.Identifier(path_ops)))
    out["ops_vs_path_ops"]["jsonb_ops"]["lookup_ms"] = median_ms(
        lambda k: by_id({"_id": record_id(k * 7919 % rows)}), 31
    )
    drop_extra_indexes(pg, db, table)
    fields = ("_id", "patient", "origin.upload")
    out["built"] = [build(pg, table, f, "jsonb_path_ops") for f in fields]
    pg.execute(sql.SQL("ANALYZE {}.{}").format(sql.Identifier(DB), sql.Identifier(table)))
    out["after_ms"] = time_shapes(db, rows, 2, slow=False)
    print("after", json.dumps(out["after_ms"], indent=1), flush=True)
    out["insert_per_s"] = write_cost(db, pg)
    out["pending_list_lookup_ms"] = pending_list(db, pg)
    out["generic_plan_trap_ms"] = generic_plan_trap(pg)
    return out


if __name__ == "__main__":
    results = main(int(sys.argv[1]) if len(sys.argv) > 1 else 500_000)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
