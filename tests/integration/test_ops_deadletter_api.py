"""The operators' dead-letter API on the real broker, with Kafka's ACLs on.

Listing goes a page at a time (``limit``, an opaque ``cursor``, a ``next`` link) with the
filters working across pages; a retry through a service that does not own the letter's
source topic is a 403 naming the owner, whether the ACL table or the broker refuses it,
and goes through from the owner.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared import topics
from shared.admin import read_book, retry_letters
from shared.deadletter import RETRY_OF, SourceMessage, dead_letter_headers
from shared.deadletter_cursor import encode_cursor
from shared.deadletter_pages import RetryLog, read_after
from shared.errors import Forbidden
from shared.kafka_client import ADMIN
from shared.settings import Settings
from tests.support.cli import healthlink
from tests.support.inprocess import running
from tests.support.kafka import publish_raw
from tests.support.settings import TEST_ADMIN

pytestmark = pytest.mark.integration
OPERATOR = {"authorization": f"Bearer {TEST_ADMIN}"}


async def set_aside(
    settings: Settings, offset: int, *, reason: str, topic: str, service: str, key: str
) -> str:
    """A dead letter as ``service`` would have set it aside; returns its id."""
    source = SourceMessage(
        topics.named(topic, settings.topic_prefix), 0, offset, key.encode(), b'{"n": 1}', {}
    )
    headers = dead_letter_headers(
        source, service=service, reason=reason, detail="test", topic_prefix=settings.topic_prefix
    )
    await publish_raw(settings, topics.DEAD_LETTERS, source.value, key=source.key,
                      headers=dict(headers))  # fmt: skip
    return headers["hl-dlq-id"]


async def walk(client: httpx.AsyncClient, url: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page from ``url`` on: the ids in order, and the pages."""
    ids: list[str] = []
    pages: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        r = await client.get(next_url, headers=OPERATOR)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["count"] == len(page["entries"])
        pages.append(page)
        ids += [e["id"] for e in page["entries"]]
        next_url = page["next"]
        assert len(pages) < 50, "the pages never end"
    return ids, pages


async def test_dead_letters_are_listed_a_page_at_a_time_with_filters(settings: Settings) -> None:
    sent = [
        await set_aside(settings, n, reason="r-a" if n % 2 else "r-b",
                        topic=topics.INGEST_UPLOADS, service="ingest", key=f"k{n}")
        for n in range(7)
    ]  # fmt: skip
    async with running("notify", settings) as (_, client):
        ids, pages = await walk(client, "/admin/deadletters?limit=3")
        assert ids == sent  # oldest first, each once, across the partitions
        assert [p["count"] for p in pages] == [3, 3, 1]
        assert pages[0]["records_on_topic"] == 7 and pages[-1]["next"] is None
        assert pages[0]["by_reason"] == {"r-b": 2, "r-a": 1}
        assert pages[0]["next"].startswith("/admin/deadletters?limit=3&cursor=")

        only_b, b_pages = await walk(client, "/admin/deadletters?reason=r-b&limit=2")
        assert only_b == [i for n, i in enumerate(sent) if n % 2 == 0]
        assert all("reason=r-b" in p["next"] for p in b_pages[:-1])

        assert (await walk(client, "/admin/deadletters?status=retried"))[0] == []
        noted = {RETRY_OF: sent[3], "hl-dlq-time": "2026-12-03T00:00:00Z"}
        await publish_raw(
            settings, topics.DEAD_LETTER_RETRIES, b"", key=sent[3].encode(), headers=dict(noted)
        )
        # the service's retry log reads only what came since its last look
        assert (await walk(client, "/admin/deadletters?status=retried"))[0] == [sent[3]]
        pending, _ = await walk(client, "/admin/deadletters?status=pending&limit=500")
        assert pending == [i for i in sent if i != sent[3]]

        bad = {
            "limit=0": "limit must be between 1 and 500",
            "limit=501": "limit must be between 1 and 500",
            "limit=many": "limit",
            "cursor=%25%25%25": "cursor: not a token",
            f"cursor={encode_cursor({99: 0})}": "has no partition 99",
        }
        for query, why in bad.items():
            r = await client.get(f"/admin/deadletters?{query}", headers=OPERATOR)
            assert r.status_code == 400, (query, r.text)
            assert r.json()["resourceType"] == "OperationOutcome"
            assert why in r.json()["issue"][0]["diagnostics"], (query, r.text)

    listed = await healthlink(settings, "dlq", "list", "--limit", "4", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 4 and "--cursor" in listed.stderr
    cursor = listed.stderr.strip().split("--cursor ")[1]
    rest = await healthlink(settings, "dlq", "list", "--cursor", cursor, "--status", "pending")
    assert rest.exit_code == 0 and "3 dead letter(s); no more" in rest.stdout, rest.stdout
    wrong = await healthlink(settings, "dlq", "list", "--cursor", "%%%")
    assert wrong.exit_code == 2 and "not a token" in wrong.stderr


async def consent_events(settings: Settings) -> list[Any]:
    return await read_after(settings, topics.CONSENT_EVENTS, ADMIN, {})


async def test_a_retry_goes_only_through_the_service_that_owns_the_topic(
    settings: Settings,
) -> None:
    letter_id = await set_aside(
        settings, 41, reason="handler-failed", topic=topics.CONSENT_EVENTS, service="notify",
        key="cid-1",
    )  # fmt: skip
    async with running("notify", settings) as (app, client):
        r = await client.post("/admin/deadletters/retry", headers=OPERATOR,
                              json={"ids": [letter_id]})  # fmt: skip
        assert r.status_code == 403, r.text
        outcome = r.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "forbidden"
        detail = outcome["issue"][0]["diagnostics"]
        assert "healthlink.consent.events (1 letter(s); written by consent)" in detail
        assert detail.startswith("the notify service may not write")

        # Past the table, the broker itself refuses (Kafka's ACLs): the same 403.
        [letter] = (await read_book(settings, "notify")).select(ids=[letter_id])
        with pytest.raises(Forbidden, match=r"Kafka refused: .*written by consent"):
            await retry_letters(app.state.runtime.dead_letters, [letter])
    assert await consent_events(settings) == []

    async with running("consent", settings) as (_, client):
        r = await client.post("/admin/deadletters/retry", headers=OPERATOR,
                              json={"ids": [letter_id]})  # fmt: skip
        assert r.status_code == 200 and r.json() == {"retried": 1, "ids": [letter_id]}, r.text
    [back] = [e for e in await consent_events(settings) if e.key == b"cid-1"]
    assert back.value == b'{"n": 1}'
    assert letter_id in await RetryLog().refresh(settings, ADMIN)
