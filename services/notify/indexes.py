"""The notify service's indexes and the query shapes they serve (``shared.indexes``).

Every query of ``repository.py``, ``digest.py``, ``deliveries.py``, ``slots.py``,
``migrations.py`` and the consent projections it keeps (``shared/projections.py``);
the composition root ensures the indexes at start (on FerretDB with
``HEALTHLINK_PG_DSN``, as PostgreSQL indexes its pushdown uses), and the ``EXPLAIN``
test (``tests/integration/test_query_shapes.py``) proves each shape is served.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.indexes import DESC, QueryShape, by_id, on
from shared.projections_indexes import INDEXES as PROJECTION_INDEXES
from shared.projections_indexes import SHAPES as PROJECTION_SHAPES

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CID = "1234567890121"
BOUNDED = "a few rows per hospital or slot: does not grow with patients or records"
MOST_PATIENTS = "by design: most patients (and a dotted field is not pushed down in find)"
EVERYONE = "by design: an announcement tells every patient notify heard of"
ONCE = "a migration, once per database (shared.indexes.once): items parked before the field"

INDEXES = [
    by_id("inbox"),
    on("inbox", "patient", ("created_at", DESC), name="patient_created"),
    by_id("preferences"),
    by_id("digest_items"),
    on("digest_items", "digest", "bucket", name="digest_bucket"),
    on("digest_items", "done"),
    by_id("deliveries"),
    on("deliveries", "state", "next_at", name="due"),
    by_id("announcements"),
    by_id("patients"),
    by_id("migrations"),
    *PROJECTION_INDEXES,
]
SHAPES = [
    QueryShape("inbox page", "inbox", {"patient": CID}, sort=(("created_at", -1),)),
    QueryShape("mark read", "inbox", {"_id": "n1", "patient": CID}, op="update"),
    QueryShape("preference", "preferences", {"_id": CID}),
    QueryShape("choose a preference", "preferences", {"_id": CID}, op="update"),
    QueryShape("park an access", "digest_items", {"_id": "access-e1"}, op="update"),
    QueryShape("unclaimed items", "digest_items", {"digest": ""}),
    QueryShape("claim an item", "digest_items", {"_id": "access-e1", "digest": ""}, op="update"),
    QueryShape(
        "unfinished digests",
        "digest_items",
        {"done": False, "digest": {"$ne": ""}},
        op="distinct",
    ),
    QueryShape("items of a digest", "digest_items", {"digest": "digest-1"}, sort=(("_id", 1),)),
    QueryShape("finish a digest", "digest_items", {"digest": "digest-1"}, op="update"),
    QueryShape(
        "claim a delivery whose sender crashed",
        "deliveries",
        {"state": "sending", "lease_until": {"$lte": NOW}},
        sort=(("next_at", 1),),
        op="find_and_modify",
    ),
    QueryShape(
        "claim a due delivery",
        "deliveries",
        {"state": "pending", "next_at": {"$lte": NOW}},
        sort=(("next_at", 1),),
        op="find_and_modify",
    ),
    QueryShape("finish a delivery", "deliveries", {"_id": "n1", "state": "sending"}, op="update"),
    QueryShape("set-aside deliveries", "deliveries", {"state": "set-aside"}),
    QueryShape("retry a delivery", "deliveries", {"_id": "n1", "state": "set-aside"}, op="update"),
    QueryShape("slot by key", "announcements", {"_id": "2026-02-28T12:00+07:00"}),
    QueryShape("finish a slot", "announcements", {"_id": "2026-02-28T12:00+07:00"}, op="update"),
    QueryShape(
        "previous slot",
        "announcements",
        {"slot": {"$lt": NOW}},
        sort=(("slot", -1),),
        scans=BOUNDED,
    ),
    QueryShape("claimed slots", "announcements", {"state": "claimed"}, scans=BOUNDED),
    QueryShape("register a patient", "patients", {"_id": CID}, op="update"),
    QueryShape("every patient", "patients", {}, scans=EVERYONE),
    QueryShape("every hospital", "hospital_view", {}, scans=BOUNDED),
    QueryShape(
        "all-hospitals patients", "consent_view", {"state.all_hospitals": True}, scans=MOST_PATIENTS
    ),
    QueryShape("migration done?", "migrations", {"_id": "notify.digest_unclaimed"}),
    QueryShape("items parked before", "digest_items", {"digest": None}, op="update", scans=ONCE),
    *PROJECTION_SHAPES,
]
