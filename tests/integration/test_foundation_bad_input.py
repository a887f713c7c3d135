"""Bad input to every endpoint and every consumed topic: a clear error, never a 500, never lost.

The HTTP half walks each service's own OpenAPI document, so endpoints added later
are covered too. The Kafka half publishes unreadable bytes to every topic a service
consumes and finds each set aside on the dead-letter topic with its reason.
"""

from __future__ import annotations

import re
import uuid

import pytest

from shared import topics
from shared.settings import SERVICE_PORTS, Settings
from tests.support.badinput import backend_absent
from tests.support.inprocess import running
from tests.support.kafka import dead_letters, publish_raw
from tests.support.settings import TEST_ADMIN

pytestmark = pytest.mark.integration

BAD_PATH_VALUES = ["x", "0000000000000", "1" * 300, "%00"]
BAD_BODIES = [b"{not json", b"[]", b'{"cid": 5, "code": null}', b"\xff\xfe"]
AUTHS = [{}, {"authorization": "Bearer not-a-token"}, {"authorization": f"Bearer {TEST_ADMIN}"}]


def concrete(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def operations(spec: dict[str, object]) -> list[tuple[str, str]]:
    paths = spec["paths"]
    assert isinstance(paths, dict)
    return [
        (method.upper(), path)
        for path, item in paths.items()
        for method in item
        if method in {"get", "post", "put", "delete", "patch"}
        and path not in {"/healthz", "/readyz", "/metrics"}
    ]


def assert_clear_error(status: int, body: bytes, what: str) -> None:
    """An OperationOutcome, a detail, or (the auth service's OAuth endpoints) an RFC 6749
    error with its description."""
    assert status < 500, f"{what} -> {status}: {body[:300]!r}"
    if status >= 400 and body.startswith(b"{"):
        clear = (b"OperationOutcome", b"detail", b'"error_description"')
        assert any(word in body for word in clear), f"{what}: unclear error"


@pytest.mark.parametrize("service", list(SERVICE_PORTS))
async def test_every_endpoint_refuses_bad_input_with_a_4xx(
    service: str, settings: Settings
) -> None:
    async with running(service, settings) as (app, client):
        ops = operations(app.openapi())
        assert ops, f"{service} exposes no endpoints"
        for method, path in ops:
            for value in BAD_PATH_VALUES:
                for headers in AUTHS:
                    for body in BAD_BODIES:
                        url = concrete(path, value)
                        r = await client.request(
                            method,
                            url,
                            content=body,
                            headers={**headers, "content-type": "application/json"},
                        )
                        if not backend_absent(service, r.status_code, r.content):
                            assert_clear_error(r.status_code, r.content, f"{method} {url}")


CONSUMED = {
    "ingest": [topics.INGEST_UPLOADS, topics.CONSENT_EVENTS, topics.HOSPITAL_EVENTS],
    "query": [topics.CONSENT_EVENTS, topics.HOSPITAL_EVENTS, topics.INGEST_STORED],
    "audit": [topics.ACCESS_EVENTS],
    "notify": [topics.ACCESS_EVENTS, topics.INGEST_RECORDS],
}


@pytest.mark.parametrize("service", list(CONSUMED))
async def test_unreadable_messages_are_set_aside_with_their_reason(
    service: str, settings: Settings
) -> None:
    async with running(service, settings):
        sent = []
        for topic in CONSUMED[service]:
            marker = uuid.uuid4().hex
            await publish_raw(
                settings,
                topic,
                b"\x00not an event " + marker.encode(),
                key=b"k",
                headers={"x-test": marker},
            )
            sent.append((topic, marker))
        letters = await dead_letters(settings, at_least=len(sent))
    mine = {
        (letter.source.topic, letter.source.headers.get("x-test")): letter
        for letter in letters
        if letter.service == service
    }
    for topic, marker in sent:
        letter = mine.get((topic, marker))
        assert letter is not None, f"{service} lost an unreadable message on {topic}"
        assert letter.reason, "a dead letter must say why"
        assert letter.source.value.endswith(marker.encode()), "original bytes kept"
