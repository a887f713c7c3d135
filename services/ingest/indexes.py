"""The ingest service's indexes and the query shapes they serve (``shared.indexes``).

Every query of ``repository.py`` (``records``, ``held``), ``receiptstore.py``
(``receipts``), ``subscriptionstore.py`` (``subscriptions``) and of the consent and
hospital views ingest keeps (``shared.projections``: ``consent_view``,
``hospital_view``); the composition root ensures the indexes at start (on FerretDB
with ``HEALTHLINK_PG_DSN``, as PostgreSQL indexes its pushdown uses), and the
``EXPLAIN`` test (``tests/integration/test_query_shapes.py``) proves each shape is
served. Writes of new records are ``insert_many`` (no query); the update below is
the retry of an id that already existed.
"""

from __future__ import annotations

from shared.indexes import DESC, QueryShape, by_id, on
from shared.projections_indexes import INDEXES as PROJECTION_INDEXES
from shared.projections_indexes import SHAPES as PROJECTION_SHAPES

CID = "1234567890121"
BOUNDED = "a few rows per hospital: does not grow with patients or records"
INDEXES = [
    by_id("records"),
    on("records", "patient", "category", ("date", DESC), name="patient_category_date"),
    by_id("held"),
    on("held", "patient", name="held_patient"),
    on("held", "hospital", name="held_hospital"),
    by_id("receipts"),
    by_id("subscriptions"),
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
    QueryShape("read a receipt", "receipts", {"_id": "10670/up-1"}),
    QueryShape("store a receipt", "receipts", {"_id": "10670/up-1"}, op="update"),
    QueryShape(
        "end a receipt still queued",
        "receipts",
        {"_id": "10670/up-1", "state": "queued"},
        op="update",
    ),
    QueryShape(
        "set a receipt aside unless stored",
        "receipts",
        {"_id": "10670/up-1", "state": {"$ne": "stored"}},
        op="update",
    ),
    QueryShape("a hospital's subscription", "subscriptions", {"_id": "10670"}),
    QueryShape(
        "delete a hospital's subscription",
        "subscriptions",
        {"_id": "10670", "id": "sub-1"},
        op="delete",
    ),
    *PROJECTION_SHAPES,
]
