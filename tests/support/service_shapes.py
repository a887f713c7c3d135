"""Every query the six services issue today, and the indexes recommended for them.

To be moved next to each service's repository when the lead wires ``shared.indexes``
in (``services/<name>/indexes.py``: ``INDEXES`` for ``ensure_indexes``, ``SHAPES``
for the ``EXPLAIN`` test), then this module imports them instead, as it does for
auth, consent, notify and the projections (``shared/projections_indexes.py``). Read from
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
from shared.indexes import DESC, Index, QueryShape, by_id, on
from shared.projections_indexes import INDEXES as PROJECTION_INDEXES
from shared.projections_indexes import SHAPES as PROJECTION_SHAPES

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CID = "1234567890121"
IN_IDS = "REWRITE: $in is not pushed down; one find_one per id (asyncio.gather)"
SWEEP = "REWRITE: $in is not pushed down; one delete_one per part"
CHAIN_LAST = (
    "REWRITE: a sixth of the table, sorted in FerretDB; read the tip, then the records"
    " after it by _id"
)
TIME_WINDOW = "REWRITE: a range is never pushed down; equality on a day field, newest day first"

# Both projections of consent and hospital events (shared/projections.py), in the
# databases of ingest, query and notify: declared in shared/projections_indexes.py.

QUERY_INDEXES = [
    by_id("charts"),
    by_id("chart_index"),
    by_id("licences"),
    by_id("rosters"),
    on("rosters", "hospital"),
    by_id("sign_in_failures"),
    by_id("break_glass"),
    *PROJECTION_INDEXES,
]
QUERY_SHAPES = [
    QueryShape("chart part by id", "charts", {"_id": f"{CID}|H001|p1"}),
    QueryShape(
        "sweep superseded parts",
        "charts",
        {"_id": {"$in": [f"{CID}|H001|p1", f"{CID}|H001|p2"]}},
        op="delete",
        scans=SWEEP,
    ),
    QueryShape("chart index by id", "chart_index", {"_id": CID}),
    QueryShape(
        "chart indexes of a batch", "chart_index", {"_id": {"$in": [CID, "2"]}}, scans=IN_IDS
    ),
    QueryShape(
        "first chart of a source",
        "chart_index",
        {"_id": CID, "charts.H001": {"$exists": False}},
        op="update",
    ),
    QueryShape(
        "move a chart", "chart_index", {"_id": CID, "charts.H001.digest": "d1"}, op="update"
    ),
    QueryShape("licence by id", "licences", {"_id": "MD1"}),
    QueryShape("roster entry", "rosters", {"_id": "H001:MD1", "active": True}, op="update"),
    QueryShape("roster of a hospital", "rosters", {"hospital": "H001", "active": True}),
    QueryShape("sign-in failures", "sign_in_failures", {"_id": "MD1"}, op="find_and_modify"),
    QueryShape("forget failures", "sign_in_failures", {"_id": "MD1", "first": NOW}, op="delete"),
    QueryShape(
        "lock a licence",
        "sign_in_failures",
        {"_id": "MD1", "locked_until": {"$exists": False}},
        op="update",
    ),
    QueryShape("break glass", "break_glass", {"_id": f"MD1|H001|{CID}"}),
    *PROJECTION_SHAPES,
]

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
