"""A hospital's set-aside uploads a page at a time on the real broker (Kafka's ACLs on):
only its own uploads, the ``next`` cursor walking each once, and a retry of another
hospital's letter (or an event) refused while its own goes back to the upload topic."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from healthlink_adapter.contract import HOSPITAL_HEADER

from shared import topics
from shared.deadletter import RETRY_OF, SourceMessage, dead_letter_headers
from shared.deadletter_pages import RetryLog, read_after
from shared.kafka_client import ADMIN
from shared.settings import Settings
from tests.support.credentials import admin_key, know
from tests.support.inprocess import running
from tests.support.kafka import publish_raw, read_events

pytestmark = pytest.mark.integration
HOSPITAL, OTHER = "10670", "13781"


async def set_aside(settings: Settings, n: int, hospital: str, topic: str) -> str:
    """An upload (or event) of ``hospital`` as ingest would have set it aside; its id."""
    source = SourceMessage(
        topics.named(topic, settings.topic_prefix), n % 3, n, f"cid-{n}".encode(),
        b'{"resourceType": "Bundle"}', {HOSPITAL_HEADER: hospital},
    )  # fmt: skip
    headers = dead_letter_headers(
        source, service="ingest", reason="no-consent", detail="test",
        topic_prefix=settings.topic_prefix,
    )  # fmt: skip
    await publish_raw(settings, topics.DEAD_LETTERS, source.value, key=source.key,
                      headers=dict(headers))  # fmt: skip
    return headers["hl-dlq-id"]


def key(code: str, settings: Settings) -> dict[str, str]:
    return {"authorization": f"Bearer {admin_key(code)}"}


async def walk(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[Any]:
    pages: list[Any] = []
    next_url: str | None = url
    while next_url:
        r = await client.get(next_url, headers=headers)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        next_url = pages[-1]["next"]
        assert len(pages) < 30, "the pages never end"
    return pages


async def test_a_hospital_pages_through_its_own_uploads_and_retries_only_its_own(
    settings: Settings,
) -> None:
    mine, theirs, event = [], [], ""
    for n in range(9):
        if n % 3 == 2:
            theirs.append(await set_aside(settings, n, OTHER, topics.INGEST_UPLOADS))
        else:
            mine.append(await set_aside(settings, n, HOSPITAL, topics.INGEST_UPLOADS))
    event = await set_aside(settings, 20, HOSPITAL, topics.CONSENT_EVENTS)
    ours = key(HOSPITAL, settings)
    async with running("ingest", settings) as (app, client):
        await know(app.state.hospitals, HOSPITAL, OTHER)  # their admin keys' hashes
        pages = await walk(client, f"/hospitals/{HOSPITAL}/deadletters?limit=2", ours)
        ids = [e["id"] for p in pages for e in p["entries"]]
        assert ids == mine  # oldest first, each once, none of another hospital's
        assert [p["count"] for p in pages][:3] == [2, 2, 2]
        assert pages[0]["next"].startswith(f"/hospitals/{HOSPITAL}/deadletters?limit=2&cursor=")
        assert pages[-1]["next"] is None and pages[-1]["cursor"]
        assert all(e["status"] == "pending" for p in pages for e in p["entries"])
        others = await walk(client, f"/hospitals/{OTHER}/deadletters", key(OTHER, settings))
        assert [e["id"] for p in others for e in p["entries"]] == theirs

        for foreign in (theirs[0], event, "no-such-letter"):
            r = await client.post(f"/hospitals/{HOSPITAL}/deadletters/{foreign}/retry",
                                  headers=ours)  # fmt: skip
            assert r.status_code == 404, r.text
            assert r.json()["resourceType"] == "OperationOutcome"
        r = await client.post(f"/hospitals/{HOSPITAL}/deadletters/{mine[1]}/retry", headers=ours)
        assert r.status_code == 200 and r.json() == {"retried": 1, "ids": [mine[1]]}, r.text

        pending = await walk(
            client, f"/hospitals/{HOSPITAL}/deadletters?status=pending&limit=500", ours
        )
        # (the running ingest sets the retried upload, unsigned, aside again: a new letter)
        again = [e["id"] for e in pending[0]["entries"] if e["reason"] == "no-consent"]
        assert again == [i for i in mine if i != mine[1]]
        retried = await walk(client, f"/hospitals/{HOSPITAL}/deadletters?status=retried", ours)
        assert [e["id"] for e in retried[0]["entries"]] == [mine[1]]
        assert retried[0]["entries"][0]["retried_at"]

        r = await client.get(f"/hospitals/{HOSPITAL}/deadletters?cursor=%25%25", headers=ours)
        assert r.status_code == 400 and "cursor" in r.text
    log = await RetryLog().refresh(settings, ADMIN)
    assert mine[1] in log and theirs[0] not in log
    uploads = await read_after(settings, topics.INGEST_UPLOADS, ADMIN, {})
    assert [u.key for u in uploads] == [b"cid-1"]
    assert all(dict(u.headers).get(RETRY_OF) is None for u in uploads)
    # the hospital's retry is in the security log under the hospital's name (audit keeps it)
    acted = [e for _, e in await read_events(settings, topics.SECURITY_EVENTS, 1, drain=True)
             if e.get("type", "").endswith("operator.acted.v1")]  # fmt: skip
    assert [(e["data"]["operator"], e["data"]["action"], e["data"]["target"]) for e in acted] == [
        (f"hospital:{HOSPITAL}", "deadletter.retried", mine[1])
    ]
