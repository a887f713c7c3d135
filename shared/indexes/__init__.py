"""Indexes declared once per service, for MongoDB and for FerretDB on PostgreSQL.

    INDEXES = [by_id("consents"), on("held", "patient", name="held_patient")]
    SHAPES = [QueryShape("consent by id", "consents", {"_id": "C1"})]
    runtime.on_start.append(ensuring(runtime.db, INDEXES, settings.pg_dsn))

See docs/indexes.md for what FerretDB 1.24 pushes down and which index serves it.
"""

from shared.indexes.ensure import Ensured, ensure_indexes, ensuring, is_ferretdb
from shared.indexes.migrate import MIGRATIONS, once
from shared.indexes.postgres import NotFerretDB, PgIndex, table_of
from shared.indexes.spec import (
    ASC,
    DESC,
    Index,
    QueryShape,
    by_id,
    on,
    pushed_down,
    served_by,
)

__all__ = [
    "ASC",
    "DESC",
    "MIGRATIONS",
    "Ensured",
    "Index",
    "NotFerretDB",
    "PgIndex",
    "QueryShape",
    "by_id",
    "ensure_indexes",
    "ensuring",
    "is_ferretdb",
    "on",
    "once",
    "pushed_down",
    "served_by",
    "table_of",
]
