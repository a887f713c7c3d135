"""The ingest service's indexes and the query shapes they serve (``shared.indexes``).

Every query of ``repository.py`` (``records``, ``held``) and of the consent and
hospital views ingest keeps (``shared.projections``: ``consent_view``,
``hospital_view``); the composition root ensures the indexes at start (on FerretDB
with ``HEALTHLINK_PG_DSN``, as PostgreSQL indexes its pushdown uses), and the
``EXPLAIN`` test (``tests/integration/test_query_shapes.py``) proves each shape is
served. Writes of new records are ``insert_many`` (no query); the update below is
the retry of an id that already existed.
"""

from __future__ import annotations

from shared.indexes import DESC, QueryShape, by_id, on

CID = "1234567890121"
IN_IDS = "REWRITE: $in is not pushed down; one find_one per id (asyncio.gather)"
BOUNDED = "a few rows per hospital: does not grow with patients or records"
# The consent and hospital projections ingest keeps (``shared/projections.py``), read
# and written by ``_id``; query and notify keep the same ones.
PROJECTION_INDEXES = [by_id("consent_view"), by_id("hospital_view")]
PROJECTION_SHAPES = [
    QueryShape("consent view by id", "consent_view", {"_id": CID}),
    QueryShape(
        "apply consent version",
        "consent_view",
        {"_id": CID, "version": {"$lt": 3}},
        op="update",
    ),
    QueryShape(
        "consent views of a batch", "consent_view", {"_id": {"$in": [CID, "2"]}}, scans=IN_IDS
    ),
    QueryShape("hospital view by id", "hospital_view", {"_id": "H001"}),
    QueryShape(
        "hospital views of a batch",
        "hospital_view",
        {"_id": {"$in": ["H001", "H002"]}},
        scans=BOUNDED,
    ),
]
INDEXES = [
    by_id("records"),
    on("records", "patient", "category", ("date", DESC), name="patient_category_date"),
    by_id("held"),
    on("held", "patient", name="held_patient"),
    on("held", "hospital", name="held_hospital"),
    *PROJECTION_INDEXES,
]
SHAPES = [
    QueryShape(
        "store a newer version",
        "records",
        {"_id": "H001/Observation/o1", "rank": {"$lt": "2026|1"}},
        op="update",
    ),
    QueryShape("count records of a patient", "records", {"patient": CID}, op="count"),
    QueryShape("hold an upload", "held", {"_id": "up-1"}, op="update"),
    QueryShape("held for a patient", "held", {"patient": CID}),
    QueryShape("held from a hospital", "held", {"hospital": "H001"}),
    QueryShape("release a held upload", "held", {"_id": "up-1"}, op="delete"),
    *PROJECTION_SHAPES,
]
