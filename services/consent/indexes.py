"""The consent service's indexes and the query shapes they serve (``shared.indexes``).

Every query of ``repository.py`` and ``migrations.py``; the composition root ensures
the indexes at start (on FerretDB with ``HEALTHLINK_PG_DSN``, as PostgreSQL indexes
its pushdown uses), and the ``EXPLAIN`` test (``tests/integration/test_query_shapes.py``)
proves each shape is served. The outbox relay reads a flag (``outbox_pending``) and
the expiry sweep a day (``expiry_day``): their first forms (``$exists``, a range) are
never pushed down by FerretDB 1.24 (docs/indexes.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.indexes import QueryShape, by_id, on

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CID = "1234567890121"
KINDS = ("consents", "hospitals", "patients")
ONCE = "a migration, once per database (shared.indexes.once): documents written before the field"
MAY_NAME = "by design, on a hospital event: most consents may name it ($or is not pushed down)"
BOUNDED = "hospitals: a table that does not grow with patients or records"
ENTRY = {"id": "e1", "subject": CID}

INDEXES = [
    *(by_id(kind) for kind in KINDS),
    # only documents whose outbox holds events carry the flag (unset with the last one)
    *(on(kind, "outbox_pending", sparse=True) for kind in KINDS),
    on("consents", "expiry_day", sparse=True),
    on("consents", "state.all_hospitals", equality=0),  # most patients: never selective
    by_id("attempts"),
    on("attempts", "day", equality=0),  # no query filters by day
    by_id("sweeps"),
    by_id("migrations"),
]
SHAPES = [
    QueryShape("patient by id", "patients", {"_id": CID}),
    QueryShape("patient event", "patients", {"_id": CID}, op="update"),
    QueryShape("consent state by id", "consents", {"_id": CID}),
    QueryShape("consent compare-and-set", "consents", {"_id": CID, "version": 4}, op="update"),
    QueryShape("rebuild a version", "consents", {"_id": CID, "version": {"$lt": 4}}, op="update"),
    QueryShape("hospital state by id", "hospitals", {"_id": "H001"}),
    QueryShape("hospital compare-and-set", "hospitals", {"_id": "H001", "version": 2}, op="update"),
    QueryShape(
        "reserve an attempt",
        "attempts",
        {"_id": f"{CID}:2026-01-01", "count": {"$lt": 5}},
        op="find_and_modify",
    ),
    QueryShape(
        "release an attempt",
        "attempts",
        {"_id": f"{CID}:2026-01-01", "count": {"$gt": 0}},
        op="update",
    ),
    *(QueryShape(f"{kind} outbox", kind, {"outbox_pending": True}) for kind in KINDS),
    QueryShape("drop a sent event", "consents", {"_id": CID}, op="update"),
    QueryShape(
        "drop the last event and the flag", "consents", {"_id": CID, "outbox": [ENTRY]}, op="update"
    ),
    QueryShape("unflag an empty outbox", "patients", {"_id": CID, "outbox": []}, op="update"),
    QueryShape("due expiries of a day", "consents", {"expiry_day": "2026-01-01"}),
    QueryShape("where the sweep starts", "sweeps", {"_id": "expiry"}),
    QueryShape("move the sweep", "sweeps", {"_id": "expiry"}, op="update"),
    QueryShape("migration done?", "migrations", {"_id": "consent.expiry_day"}),
    QueryShape(
        "flag old outboxes",
        "consents",
        {"outbox.0": {"$exists": True}, "outbox_pending": {"$ne": True}},
        op="update",
        scans=ONCE,
    ),
    QueryShape(
        "old consents with an expiry", "consents", {"next_expiry": {"$ne": None}}, scans=ONCE
    ),
    QueryShape(
        "consents that may name a hospital",
        "consents",
        {
            "$or": [
                {"state.all_hospitals": True},
                {"state.hospitals": "H001"},
                {"next_expiry": {"$ne": None}},
            ]
        },
        scans=MAY_NAME,
    ),
    QueryShape(
        "providers", "hospitals", {"state.role": "provider", "state.active": True}, scans=BOUNDED
    ),
    QueryShape("every hospital", "hospitals", {}, sort=(("_id", 1),), scans=BOUNDED),
]
