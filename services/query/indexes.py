"""The query service's indexes and the query shapes they serve (``shared.indexes``).

Every query of ``repository.py`` and ``chartstore.py`` (charts, the chart index,
where resources live for reads by id) and of the consent and hospital projections;
the composition root ensures the indexes at start (on FerretDB with
``HEALTHLINK_PG_DSN``, as PostgreSQL indexes its pushdown uses), and the ``EXPLAIN``
test (``tests/integration/test_query_shapes.py``) proves each shape is served.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.indexes import QueryShape, by_id, on
from shared.projections_indexes import INDEXES as PROJECTION_INDEXES
from shared.projections_indexes import SHAPES as PROJECTION_SHAPES

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CID = "1234567890121"

INDEXES = [
    by_id("charts"),
    by_id("chart_index"),
    by_id("resource_locations"),
    on("resource_locations", "refs"),
    on("resource_locations", "ref"),  # one document per resource, before
    by_id("licences"),
    by_id("rosters"),
    on("rosters", "hospital"),
    by_id("sign_in_failures"),
    by_id("break_glass"),
    by_id("export_jobs"),
    *PROJECTION_INDEXES,
]
SHAPES = [
    QueryShape("chart part by id", "charts", {"_id": f"{CID}|H001|p1"}),
    QueryShape("sweep a superseded part", "charts", {"_id": f"{CID}|H001|p1"}, op="delete"),
    QueryShape("chart index by id", "chart_index", {"_id": CID}),
    QueryShape(
        "first chart of a source",
        "chart_index",
        {"_id": CID, "charts.H001": {"$exists": False}},
        op="update",
    ),
    QueryShape(
        "move a chart", "chart_index", {"_id": CID, "charts.H001.digest": "d1"}, op="update"
    ),
    QueryShape("where a resource lives", "resource_locations", {"refs": "Observation/o1"}),
    QueryShape("where a resource lived", "resource_locations", {"ref": "Observation/o1"}),
    QueryShape("licence by id", "licences", {"_id": "MD1"}),
    QueryShape("export job by id", "export_jobs", {"_id": "j1"}),
    QueryShape("end an export job", "export_jobs", {"_id": "j1"}, op="delete"),
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
