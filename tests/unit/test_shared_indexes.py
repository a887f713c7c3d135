"""Index declarations, FerretDB 1.24's pushdown rules and the PostgreSQL index they call for."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId

from shared.indexes import DESC, Index, PgIndex, QueryShape, by_id, on, pushed_down, served_by
from shared.indexes.postgres import wanted
from tests.support.query_plans import postgres_verdict, seed_documents

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_on_reads_bare_names_as_ascending_and_keeps_options() -> None:
    index = on("records", "patient", ("date", DESC), name="patient_date", unique=True)
    assert index.keys == (("patient", 1), ("date", -1))
    assert (index.name, index.unique, index.equality_fields) == ("patient_date", True, ("patient",))
    assert by_id("records").is_id and not index.is_id


@pytest.mark.parametrize(
    ("keys", "equality"),
    [((), 1), ((("a b", 1),), 1), ((("a", 2),), 1), ((("a", 1),), 2), ((("a.", 1),), 1)],
)
def test_a_malformed_index_is_refused(keys: tuple[tuple[str, int], ...], equality: int) -> None:
    with pytest.raises(ValueError):
        Index("c", keys, equality=equality)


# What FerretDB 1.24.2 sent to PostgreSQL for each shape (PostgreSQL's statement log).
@pytest.mark.parametrize(
    ("filter", "op", "sent"),
    [
        ({"_id": "k1"}, "find", {"_id": "k1"}),
        ({"patient": {"$eq": "p1"}}, "find", {"patient": "p1"}),
        ({"_id": "k1", "version": 3}, "update", {"_id": "k1", "version": 3}),
        ({"_id": "k1", "version": {"$lt": 3}}, "update", {"_id": "k1"}),
        ({"time": NOW}, "find", {"time": NOW}),
        ({"done": False, "digest": {"$ne": None}}, "distinct", {"done": False}),
        ({"_id": {"$in": ["a", "b"]}}, "find", {}),
        ({"next_expiry": {"$lte": NOW}}, "find", {}),
        ({"outbox.0": {"$exists": True}}, "find", {}),
        ({"digest": None}, "find", {}),
        ({"$or": [{"a": 1}, {"b": 2}]}, "find", {}),
        ({"doc": {"a": 1}}, "find", {}),
        ({"state.role": "provider"}, "find", {}),
        ({"state.role": "provider"}, "count", {}),
        ({"state.role": "provider"}, "delete", {"state.role": "provider"}),
        ({"state.role": "provider"}, "distinct", {"state.role": "provider"}),
        (
            {"_id": "k3", "state.role": "provider"},
            "update",
            {"_id": "k3", "state.role": "provider"},
        ),
        ({"body": b"x"}, "find", {}),
    ],
)
def test_pushed_down_follows_ferretdb_1_24(
    filter: dict[str, Any], op: Any, sent: dict[str, Any]
) -> None:
    assert pushed_down(filter, op) == sent


def test_nested_pushdown_setting_sends_dotted_fields_in_find_too() -> None:
    assert pushed_down({"state.role": "provider"}, nested=True) == {"state.role": "provider"}


def test_served_by_names_the_covered_pushed_down_field() -> None:
    indexes = [by_id("consents"), on("consents", "next_expiry", sparse=True)]
    cas = QueryShape("cas", "consents", {"_id": "C1", "version": {"$lt": 2}}, op="update")
    due = QueryShape("due", "consents", {"next_expiry": {"$lte": NOW}})
    other = QueryShape("other", "patients", {"_id": "C1"})
    assert served_by(cas, indexes) == "_id"
    assert served_by(due, indexes) is None  # a range is never pushed down
    assert served_by(other, indexes) is None


def test_postgres_index_expressions_match_what_ferretdb_sends() -> None:
    top, nested = PgIndex("db", "t_1", "patient"), PgIndex("db", "t_1", "state.role")
    assert top.name.startswith("t_1_patient_")
    assert top.create().as_string() == (
        f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{top.name}" ON "db"."t_1" '
        "USING gin ((_jsonb -> 'patient') jsonb_path_ops) WITH (fastupdate = off)"
    )
    assert "(_jsonb #> '{state,role}'::text[])" in nested.create().as_string()
    assert top.create(concurrently=False).as_string().startswith("CREATE INDEX IF NOT EXISTS")
    assert top.drop().as_string() == f'DROP INDEX CONCURRENTLY IF EXISTS "db"."{top.name}"'


def test_postgres_index_names_are_short_stable_and_distinct() -> None:
    long_table = "a_collection_with_a_very_long_name_indeed_0123456789_abcdef12"
    a, b = PgIndex("db", long_table, "state.all_hospitals"), PgIndex("db", long_table, "state")
    assert len(a.name) <= 63 and a.name.endswith("_hl")
    assert a.name == PgIndex("other", long_table, "state.all_hospitals").name
    assert a.name != b.name


def test_each_equality_field_gets_one_gin_index() -> None:
    specs = [
        by_id("records"),
        on("records", "patient", "category", ("date", DESC), equality=2),
        on("records", "patient", name="again"),
        on("held", "patient"),
    ]
    built = wanted("db", {"records": "records_1", "held": "held_2"}, specs)
    assert [(i.table, i.field) for i in built] == [
        ("records_1", "_id"),
        ("records_1", "patient"),
        ("records_1", "category"),
        ("held_2", "patient"),
    ]


def test_seeded_rows_hold_other_values_and_one_match_per_shape() -> None:
    shapes = [
        QueryShape("by id", "c", {"_id": "k1"}),
        QueryShape("open", "c", {"done": False, "n": 3, "at": NOW, "o": ObjectId()}),
        QueryShape("role", "c", {"state.role": "provider"}, op="delete"),
    ]
    docs = seed_documents(shapes, rows=50)
    assert len(docs) == 53
    matches = [d for d in docs if not str(d["_id"]).startswith("seed-")]
    assert [m["_id"] for m in matches] == ["k1", "match-1", "match-2"]
    seeded = docs[:50]
    assert not any(d["done"] is False or d["n"] == 3 or d["at"] == NOW for d in seeded)
    assert all(d["state"]["role"] != "provider" for d in seeded)
    assert matches[2]["state"] == {"role": "provider"}


def test_a_seq_scan_of_the_collection_fails_and_an_index_passes() -> None:
    shape = QueryShape("by id", "c", {"_id": "k1"})
    scan = {"queryPlanner": {"Plan": {"Node Type": "Seq Scan", "Relation Name": "c_1"}}}
    indexed = {
        "queryPlanner": {
            "Plan": {
                "Node Type": "Bitmap Heap Scan",
                "Relation Name": "c_1",
                "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "c_1__id_x_hl"}],
            }
        }
    }
    assert postgres_verdict(shape, "c_1", scan).problem == "by id: scans c (Seq Scan)"
    assert postgres_verdict(shape, "c_1", indexed).problem is None
    declared = QueryShape("small", "c", {}, scans="a handful of rows")
    assert postgres_verdict(declared, "c_1", scan).problem is None
    assert "drop its `scans`" in str(postgres_verdict(declared, "c_1", indexed).problem)
