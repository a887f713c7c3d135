"""Every query the six services issue today, and the indexes recommended for them.

To be moved next to each service's repository when the lead wires ``shared.indexes``
in (``services/<name>/indexes.py``: ``INDEXES`` for ``ensure_indexes``, ``SHAPES``
for the ``EXPLAIN`` test), then this module imports them instead, as it does for
auth, consent, notify, query and the projections (``shared/projections_indexes.py``). Read from
``services/*/repository.py``, ``chartstore.py``, ``shared/projections.py`` and the
notify/audit repositories (``shared/deadletter.py`` reads Kafka, not the database).

A ``scans`` reason starting with ``REWRITE`` marks a shape FerretDB 1.24 cannot serve
with any index; docs/indexes.md gives the rewrite. The others scan a table that does
not grow with the data, or read a share of it by design.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.auth.indexes import INDEXES as AUTH_INDEXES
from services.auth.indexes import SHAPES as AUTH_SHAPES
from services.consent.indexes import INDEXES as CONSENT_INDEXES
from services.consent.indexes import SHAPES as CONSENT_SHAPES
from services.ingest.indexes import INDEXES as INGEST_INDEXES
from services.ingest.indexes import SHAPES as INGEST_SHAPES
from services.notify.indexes import INDEXES as NOTIFY_INDEXES
from services.notify.indexes import SHAPES as NOTIFY_SHAPES
from services.query.indexes import INDEXES as QUERY_INDEXES
from services.query.indexes import SHAPES as QUERY_SHAPES
from shared.indexes import DESC, Index, QueryShape, by_id, on

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CID = "1234567890121"
CHAIN_LAST = (
    "REWRITE: a sixth of the table, sorted in FerretDB; read the tip, then the records"
    " after it by _id"
)
TIME_WINDOW = "REWRITE: a range is never pushed down; equality on a day field, newest day first"

# Both projections of consent and hospital events (shared/projections.py), in the
# databases of ingest, query and notify: declared in shared/projections_indexes.py.

AUDIT_INDEXES = [
    by_id("records"),
    on("records", "event_id", unique=True, name="event_id"),
    on("records", "chain", ("seq", DESC), name="chain", equality=0),  # 6 chains: not selective
    on("records", "patient", ("time", DESC), name="patient_time"),
    on("records", "physician", ("time", DESC), name="physician_time"),
    on("records", ("time", DESC), name="time", equality=0),
    by_id("tips"),
]
AUDIT_SHAPES = [
    QueryShape("seen event", "records", {"event_id": "e1"}),
    QueryShape("tip by chain", "tips", {"_id": "access.p0"}),
    QueryShape("move a tip", "tips", {"_id": "access.p0", "seq": 4, "hash": "h"}, op="update"),
    QueryShape(
        "a patient's accesses",
        "records",
        {"kind": "access", "patient": CID},
        sort=(("time", -1), ("_id", -1)),
    ),
    QueryShape(
        "a physician's records",
        "records",
        {"physician": "MD1", "time": {"$gte": NOW}},
        sort=(("time", -1), ("_id", -1)),
    ),
    QueryShape(
        "last record of a chain",
        "records",
        {"chain": "access.p0"},
        sort=(("seq", -1),),
        scans=CHAIN_LAST,
    ),
    QueryShape(
        "records of a time window",
        "records",
        {"time": {"$gte": NOW, "$lt": NOW}},
        sort=(("time", -1), ("_id", -1)),
        scans=TIME_WINDOW,
    ),
]

SERVICES: dict[str, tuple[list[Index], list[QueryShape]]] = {
    "ingest": (INGEST_INDEXES, INGEST_SHAPES),
    "consent": (CONSENT_INDEXES, CONSENT_SHAPES),
    "query": (QUERY_INDEXES, QUERY_SHAPES),
    "audit": (AUDIT_INDEXES, AUDIT_SHAPES),
    "notify": (NOTIFY_INDEXES, NOTIFY_SHAPES),
    "auth": (AUTH_INDEXES, AUTH_SHAPES),
}
