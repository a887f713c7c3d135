"""Indexes and query shapes of the consent and hospital projections (``shared/projections.py``).

Every service that keeps the projections (ingest, query, notify) adds these to its own
``INDEXES`` and ``SHAPES``: ``consent_view`` and ``hospital_view`` are read and written
by ``_id`` only (a batch's worth as one ``find_one`` per key: ``$in`` is not pushed
down by FerretDB 1.24).
"""

from __future__ import annotations

from shared.indexes import QueryShape, by_id

CID = "1234567890121"
INDEXES = [by_id("consent_view"), by_id("hospital_view")]
SHAPES = [
    QueryShape("consent view by id", "consent_view", {"_id": CID}),
    QueryShape(
        "apply consent version",
        "consent_view",
        {"_id": CID, "version": {"$lt": 3}},
        op="update",
    ),
    QueryShape("hospital view by id", "hospital_view", {"_id": "H001"}),
    QueryShape(
        "apply hospital version",
        "hospital_view",
        {"_id": "H001", "version": {"$lt": 2}},
        op="update",
    ),
]
