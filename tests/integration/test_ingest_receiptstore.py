"""Receipts on the real database (FerretDB locally): which write may replace which."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.ingest.receipts import QUEUED, SET_ASIDE, STORED, Receipt
from services.ingest.receiptstore import MongoReceipts
from shared.database import make_client
from shared.settings import Settings

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 4, 23, 0, tzinfo=UTC)
H = "10670"


async def test_a_queued_receipt_alone_is_ended_by_settle_queued(settings: Settings) -> None:
    client = make_client(settings)
    try:
        receipts = MongoReceipts(client[settings.db_name("ingest")])
        await receipts.record([Receipt(H, "q", QUEUED, NOW), Receipt(H, "s", STORED, NOW)])
        ended = [
            Receipt(H, upload, SET_ASIDE, NOW, reason="unknown-key", detail="removed")
            for upload in ("q", "s", "never")
        ]
        await receipts.settle_queued(ended)
        queued, stored = await receipts.find(H, "q"), await receipts.find(H, "s")
        assert queued is not None and (queued.state, queued.reason) == (SET_ASIDE, "unknown-key")
        assert stored is not None and stored.state == STORED, "a final receipt stays"
        assert await receipts.find(H, "never") is None, "none is created"
    finally:
        await client.close()
