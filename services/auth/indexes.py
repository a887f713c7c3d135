"""The auth service's indexes and the query shapes they serve (``shared.indexes``).

Every query of ``repository.py``, ``slots.py``, ``interactions.py`` and the synchronous
``oauthstore.py``; the composition root ensures the indexes at start (on FerretDB with
``HEALTHLINK_PG_DSN``, as PostgreSQL indexes its pushdown uses), and the ``EXPLAIN``
test (``tests/integration/test_query_shapes.py``) proves each shape is served. What
must be won once is an insert of a unique ``_id``, served by the primary key.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.indexes import DESC, QueryShape, by_id, on

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CID = "1234567890121"
BOUNDED = "a table that does not grow with patients or records"
EXPIRED = "REWRITE: a range is never pushed down; the purge (once a minute) reads the table"
INDEXES = [
    by_id("licence_log"),
    on("licence_log", "key", ("version", DESC), name="key_version"),
    on("licence_log", "published", equality=1),
    by_id("roster_log"),
    on("roster_log", "key", ("version", DESC), name="key_version"),
    on("roster_log", "published", equality=1),
    by_id("pins"),
    by_id("patients"),
    by_id("attempts"),
    on("attempts", "scope", "who", "window", name="scope_who_window", equality=3),
    by_id("interactions"),
    by_id("clients"),
    by_id("codes"),
    by_id("refresh_tokens"),
    by_id("used"),
    by_id("revoked"),
    by_id("hospital_view"),
]
SHAPES = [
    QueryShape(
        "latest licence version", "licence_log", {"key": "12345"}, sort=(("version", DESC),)
    ),
    QueryShape("latest roster version", "roster_log", {"key": "H001"}, sort=(("version", DESC),)),
    QueryShape(
        "unpublished identity events",
        "licence_log",
        {"published": False, "time": {"$lt": NOW}},
    ),
    QueryShape("mark published", "roster_log", {"_id": "H001:000000000002"}, op="update"),
    QueryShape("pin by licence", "pins", {"_id": "12345"}),
    QueryShape("registered patient", "patients", {"_id": CID}),
    QueryShape(
        "attempt slots held",
        "attempts",
        {"scope": "pin", "who": "12345", "window": 1966000},
    ),
    QueryShape(
        "attempts counted",
        "attempts",
        {"scope": "pin", "who": "12345", "window": 1966000},
        op="count",
    ),
    QueryShape("give an attempt back", "attempts", {"_id": "pin:12345:1966000:0"}, op="delete"),
    QueryShape("expired attempts", "attempts", {"ends": {"$lt": NOW}}, op="delete", scans=EXPIRED),
    QueryShape("interaction by id", "interactions", {"_id": "i1"}),
    QueryShape(
        "expired interactions",
        "interactions",
        {"expires_at": {"$lt": NOW}},
        op="delete",
        scans=EXPIRED,
    ),
    QueryShape("client by id", "clients", {"_id": "my-app"}),
    QueryShape("every client", "clients", {}, scans=BOUNDED),
    QueryShape("code by hash", "codes", {"_id": "ab12"}),
    QueryShape("refresh token by hash", "refresh_tokens", {"_id": "ab12"}),
    QueryShape("revoked?", "revoked", {"_id": "family:ab12"}),
    QueryShape(
        "expired refresh tokens",
        "refresh_tokens",
        {"expires_at": {"$lt": NOW}},
        op="delete",
        scans=EXPIRED,
    ),
    QueryShape("hospital view by id", "hospital_view", {"_id": "H001"}),
]
