"""What a service declares: its indexes and the query shapes they serve (pure, no I/O).

An ``Index`` is written once and becomes both a MongoDB index and, on the local stack,
the PostgreSQL index FerretDB 1.24 can use (see ``shared.indexes.postgres``). A
``QueryShape`` is one query the service issues, with example values; the ``EXPLAIN``
test (``tests/support/query_plans.py``) proves each is served by an index.

``pushed_down`` states which part of a filter FerretDB 1.24.2 sends to PostgreSQL
(``internal/backends/postgresql/query.go``, ``prepareWhereClause``): only equality
on a top-level field against a string, number, boolean, date or ObjectId (written
plainly or as ``$eq``), each as ``_jsonb->'field' @> value``. Dotted fields go as
``_jsonb #> '{a,b}' @> value``, except in ``find`` and ``aggregate`` (so in
``count_documents``, an aggregate, and in ``explain``) unless FerretDB runs with
``--test-enable-nested-pushdown``. Everything else —
``$in``, ``$lt``/``$gt``, ``$exists``, ``$or``, ``null``, sub-documents, arrays — is
filtered in FerretDB's memory after reading every row the pushed part matched,
and sorting is never pushed (only ``$natural`` on capped collections).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bson import ObjectId

ASC, DESC = 1, -1
Key = tuple[str, int]
# "count" is pymongo's count_documents: an aggregate ($match, $group) for FerretDB.
Operation = Literal["find", "update", "delete", "count", "distinct", "find_and_modify"]
FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
# Operations whose filter FerretDB pushes down without removing dotted fields.
NESTED_ALWAYS: frozenset[str] = frozenset({"update", "delete", "distinct", "find_and_modify"})


def _check_field(name: str) -> str:
    if not FIELD.match(name):
        raise ValueError(f"index field {name!r}: letters, digits and _ separated by dots only")
    return name


@dataclass(frozen=True)
class Index:
    """One index on ``collection``.

    ``keys`` is MongoDB's key pattern. The first ``equality`` keys are the fields the
    queries match by equality: on FerretDB each of them gets a GIN expression index
    (the only kind its ``@>`` pushdown can use). Range and sort keys get nothing on
    FerretDB: it never pushes them down.
    """

    collection: str
    keys: tuple[Key, ...]
    unique: bool = False
    sparse: bool = False
    name: str | None = None
    equality: int = 1

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("an index needs at least one key")
        for name, direction in self.keys:
            _check_field(name)
            if direction not in (ASC, DESC):
                raise ValueError(f"index key {name!r}: direction must be 1 or -1")
        if not 0 <= self.equality <= len(self.keys):
            raise ValueError("equality counts leading keys: between 0 and len(keys)")

    @property
    def is_id(self) -> bool:
        """Only ``_id``: MongoDB has it already, FerretDB needs the GIN one."""
        return self.keys == (("_id", ASC),)

    @property
    def equality_fields(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.keys[: self.equality])


def on(
    collection: str,
    *keys: str | Key,
    unique: bool = False,
    sparse: bool = False,
    name: str | None = None,
    equality: int = 1,
) -> Index:
    """``on("records", "patient", ("date", DESC))``: bare names are ascending."""
    pattern = tuple((k, ASC) if isinstance(k, str) else k for k in keys)
    return Index(collection, pattern, unique=unique, sparse=sparse, name=name, equality=equality)


def by_id(collection: str) -> Index:
    """Reads by ``_id`` (every ``find_one({"_id": ...})``, compare-and-set, upsert)."""
    return Index(collection, (("_id", ASC),))


@dataclass(frozen=True)
class QueryShape:
    """One query a service issues: collection, filter with example values, sort.

    ``scans`` is the reason a shape is allowed to read the whole collection (a table
    that does not grow with the data, or a shape FerretDB 1.24 cannot serve yet); the
    ``EXPLAIN`` test then checks that it does scan, so the reason stays true.
    """

    name: str
    collection: str
    filter: Mapping[str, Any]
    sort: tuple[Key, ...] = ()
    op: Operation = "find"
    scans: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | bool | int | float | datetime | ObjectId)


def pushed_down(
    filter: Mapping[str, Any], op: Operation = "find", *, nested: bool = False
) -> dict[str, Any]:
    """The ``field: value`` equalities FerretDB 1.24 sends to PostgreSQL for ``filter``."""
    sent: dict[str, Any] = {}
    for key, value in filter.items():
        if key.startswith("$") or "" in key.split("."):
            continue
        if "." in key and op not in NESTED_ALWAYS and not nested:
            continue
        if isinstance(value, Mapping):
            if "$eq" in value and _scalar(value["$eq"]):
                sent[key] = value["$eq"]
        elif _scalar(value):
            sent[key] = value
    return sent


def served_by(shape: QueryShape, indexes: list[Index], *, nested: bool = False) -> str | None:
    """The pushed-down field of ``shape`` that one of ``indexes`` covers on FerretDB."""
    fields = pushed_down(shape.filter, shape.op, nested=nested)
    covered = {f for i in indexes if i.collection == shape.collection for f in i.equality_fields}
    return next((f for f in fields if f in covered), None)
