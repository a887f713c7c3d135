"""Every query the six services issue today, and the indexes recommended for them.

To be moved next to each service's repository when the lead wires ``shared.indexes``
in (``services/<name>/indexes.py``: ``INDEXES`` for ``ensure_indexes``, ``SHAPES``
for the ``EXPLAIN`` test), then this module imports them instead. Read from
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
from services.ingest.indexes import INDEXES as INGEST_INDEXES
from services.ingest.indexes import SHAPES as INGEST_SHAPES
from shared.indexes import DESC, Index, QueryShape, by_id, on

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CID = "1234567890121"
BOUNDED = "a few rows per hospital or slot: does not grow with patients or records"
IN_IDS = "REWRITE: $in is not pushed down; one find_one per id (asyncio.gather)"
OUTBOX = (
    "REWRITE: $exists is not pushed down; a flag (outbox_pending: true) set with each push,"
    " unset when the outbox empties"
)
EXPIRY = (
    "REWRITE: a range is never pushed down; equality on an expiry day (expiry_day),"
    " each day since the last sweep"
)
MAY_NAME = "by design, on a hospital event: most consents may name it ($or is not pushed down)"
MOST_PATIENTS = "by design: most patients (and a dotted field is not pushed down in find)"
SWEEP = "REWRITE: $in is not pushed down; one delete_one per part"
CHAIN_LAST = (
    "REWRITE: a sixth of the table, sorted in FerretDB; read the tip, then the records"
    " after it by _id"
)
TIME_WINDOW = "REWRITE: a range is never pushed down; equality on a day field, newest day first"
UNCLAIMED = "REWRITE: null is not pushed down; digest '' (or claimed: false) until claimed"
CLAIM = "REWRITE: claim by {patient, bucket, digest: ''} instead of $in"
DUE = "REWRITE: $or is not pushed down; claim pending-and-due, then sending-and-expired"

# Both projections of consent and hospital events (shared/projections.py), in the
# databases of query and notify (ingest declares its own in services/ingest/indexes.py).
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

CONSENT_INDEXES = [
    by_id("patients"),
    by_id("consents"),
    on("consents", "next_expiry", sparse=True, equality=0),  # a range: MongoDB only
    on("consents", "state.all_hospitals", equality=0),  # most patients: never selective
    by_id("hospitals"),
    by_id("attempts"),
    on("attempts", "day", equality=0),  # no query filters by day
]
CONSENT_SHAPES = [
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
    QueryShape("consent outbox", "consents", {"outbox.0": {"$exists": True}}, scans=OUTBOX),
    QueryShape("patient outbox", "patients", {"outbox.0": {"$exists": True}}, scans=OUTBOX),
    QueryShape("hospital outbox", "hospitals", {"outbox.0": {"$exists": True}}, scans=BOUNDED),
    QueryShape("due expiries", "consents", {"next_expiry": {"$lte": NOW}}, scans=EXPIRY),
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
]

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

NOTIFY_INDEXES = [
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
    *PROJECTION_INDEXES,
]
NOTIFY_SHAPES = [
    QueryShape("inbox page", "inbox", {"patient": CID}, sort=(("created_at", -1),)),
    QueryShape("mark read", "inbox", {"_id": "n1", "patient": CID}, op="update"),
    QueryShape("preference", "preferences", {"_id": CID}),
    QueryShape("park an access", "digest_items", {"_id": "access-e1"}, op="update"),
    QueryShape(
        "unfinished digests",
        "digest_items",
        {"done": False, "digest": {"$ne": None}},
        op="distinct",
    ),
    QueryShape("items of a digest", "digest_items", {"digest": "digest-1"}, sort=(("_id", 1),)),
    QueryShape("finish a digest", "digest_items", {"digest": "digest-1"}, op="update"),
    QueryShape("unclaimed items", "digest_items", {"digest": None}, scans=UNCLAIMED),
    QueryShape(
        "claim items",
        "digest_items",
        {"_id": {"$in": ["a", "b"]}, "digest": None},
        op="update",
        scans=CLAIM,
    ),
    QueryShape("finish a delivery", "deliveries", {"_id": "n1", "state": "sending"}, op="update"),
    QueryShape("set-aside deliveries", "deliveries", {"state": "set-aside"}),
    QueryShape(
        "due deliveries",
        "deliveries",
        {
            "$or": [
                {"state": "pending", "next_at": {"$lte": NOW}},
                {"state": "sending", "lease_until": {"$lte": NOW}},
            ]
        },
        sort=(("next_at", 1),),
        op="find_and_modify",
        scans=DUE,
    ),
    QueryShape("slot by key", "announcements", {"_id": "2026-02-28T12:00+07:00"}),
    QueryShape(
        "previous slot",
        "announcements",
        {"slot": {"$lt": NOW}},
        sort=(("slot", -1),),
        scans=BOUNDED,
    ),
    QueryShape("claimed slots", "announcements", {"state": "claimed"}, scans=BOUNDED),
    QueryShape("register a patient", "patients", {"_id": CID}, op="update"),
    QueryShape(
        "all-hospitals patients", "consent_view", {"state.all_hospitals": True}, scans=MOST_PATIENTS
    ),
    *PROJECTION_SHAPES,
]

SERVICES: dict[str, tuple[list[Index], list[QueryShape]]] = {
    "ingest": (INGEST_INDEXES, INGEST_SHAPES),
    "consent": (CONSENT_INDEXES, CONSENT_SHAPES),
    "query": (QUERY_INDEXES, QUERY_SHAPES),
    "audit": (AUDIT_INDEXES, AUDIT_SHAPES),
    "notify": (NOTIFY_INDEXES, NOTIFY_SHAPES),
    "auth": (AUTH_INDEXES, AUTH_SHAPES),
}
