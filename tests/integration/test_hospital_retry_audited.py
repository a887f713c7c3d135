"""A hospital's own retry of a set-aside upload reaches the audit log (issue 12), on the
real broker and database: the hospital retries through ingest with its admin key, and the
audit service keeps an ``operator.acted`` security event naming the hospital as the actor
(``hospital:<code>``), found through its search API like an operator's retries are
(tests/integration/test_ops_named_operators.py). A refused retry records nothing."""

from __future__ import annotations

from typing import Any

import pytest
from healthlink_adapter.contract import HOSPITAL_HEADER

from shared import topics
from shared.deadletter import SourceMessage, dead_letter_headers
from shared.events import OperatorActed
from shared.settings import Settings
from tests.support.credentials import admin_key, know
from tests.support.inprocess import running
from tests.support.journey import eventually
from tests.support.kafka import publish_raw
from tests.support.settings import TEST_ADMIN

pytestmark = pytest.mark.integration
HOSPITAL, OTHER = "10672", "13782"  # this test's own
OPERATOR = {"authorization": f"Bearer {TEST_ADMIN}"}


async def set_aside(settings: Settings, n: int, hospital: str) -> str:
    """An upload of ``hospital`` as ingest would have set it aside; its id."""
    source = SourceMessage(
        topics.named(topics.INGEST_UPLOADS, settings.topic_prefix), 0, n, f"cid-{n}".encode(),
        b'{"resourceType": "Bundle"}', {HOSPITAL_HEADER: hospital},
    )  # fmt: skip
    headers = dead_letter_headers(
        source, service="ingest", reason="no-consent", detail="test",
        topic_prefix=settings.topic_prefix,
    )  # fmt: skip
    await publish_raw(settings, topics.DEAD_LETTERS, source.value, key=source.key,
                      headers=dict(headers))  # fmt: skip
    return headers["hl-dlq-id"]


async def test_a_hospitals_own_retry_is_in_the_audit_log_under_its_name(
    settings: Settings,
) -> None:
    mine = await set_aside(settings, 1, HOSPITAL)
    theirs = await set_aside(settings, 2, OTHER)
    ours = {"authorization": f"Bearer {admin_key(HOSPITAL)}"}
    async with (
        running("ingest", settings) as (ingest_app, ingest),
        running("audit", settings) as (_, audit),
    ):
        await know(ingest_app.state.hospitals, HOSPITAL, OTHER)
        refused = await ingest.post(f"/hospitals/{HOSPITAL}/deadletters/{theirs}/retry",
                                    headers=ours)  # fmt: skip
        assert refused.status_code == 404, refused.text
        r = await ingest.post(f"/hospitals/{HOSPITAL}/deadletters/{mine}/retry", headers=ours)
        assert r.status_code == 200 and r.json() == {"retried": 1, "ids": [mine]}, r.text

        async def audited() -> list[dict[str, Any]] | None:
            r = await audit.get("/audit/records?kind=security&count=200", headers=OPERATOR)
            assert r.status_code == 200, r.text
            found = [e["body"]["data"] for e in r.json()["entries"]
                     if e["type"] == OperatorActed.NAME]  # fmt: skip
            return found or None

        found = await eventually(audited, timeout_s=60, what="the hospital's retry audited")
        assert (await audit.get("/audit/verify", headers=OPERATOR)).json()["ok"] is True
    assert [(d["operator"], d["action"], d["target"]) for d in found] == [
        (f"hospital:{HOSPITAL}", "deadletter.retried", mine)
    ]  # the refused retry of another hospital's letter recorded nothing
    assert found[0]["detail"]["hospital"] == HOSPITAL
    assert found[0]["detail"]["service"] == "ingest"
    assert found[0]["detail"]["roles"] == "hospital"
